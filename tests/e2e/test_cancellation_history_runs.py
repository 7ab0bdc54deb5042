"""Runs of the engine against the local store: the destination keeps a subscription's
cancellation history across a reactivation, drops a withdrawn cancellation, a re-run sends
nothing, a dry run plans what the real run does, and nothing is remembered until the
destination accepted it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from saasync.connector import ReadWindow
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import BadRecordError
from saasync.models import SourceRecord
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from tests.factories import customer, dt, invoice, plan, sub_line, subscription


class Source:
    """A source whose records the test changes between runs (always read whole)."""

    name = "memory"

    def __init__(self, *records: SourceRecord) -> None:
        self.records = list(records)
        self.quiet = False  # an incremental read that finds nothing new

    def read(self, window: ReadWindow) -> Iterator[object]:
        yield plan()
        if not self.quiet:
            yield from self.records


class Clock:
    def __init__(self, at: str) -> None:
        self.now = dt(at)

    def __call__(self) -> datetime:
        return self.now


class Refusing:
    """Refuses every change of cancellation dates."""

    def __init__(self, inner: LocalStore) -> None:
        self.inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def set_cancellation_dates(self, *args: Any) -> None:
        raise BadRecordError("cancellation_dates: refused", status=422)


JAN = invoice("in_1", "2026-01-01", [sub_line(5000, "2026-01-01")])
APR = invoice("in_4", "2026-04-10", [sub_line(5000, "2026-04-10")])


def _dates(store: LocalStore) -> list[datetime]:
    sub = store.get_subscription("cus_1", "sub_1")
    assert sub is not None
    return list(sub.cancellation_dates)


def _engine(state: StateStore, store: Any, source: Source, clock: Clock) -> Engine:
    return Engine("c", source, state, store, rules=RuleSettings(), data_source="s", clock=clock)  # type: ignore[arg-type]


def test_reactivation_keeps_effective_cancellation(tmp_path: Path) -> None:
    clock = Clock("2026-02-10")
    source = Source(customer(), JAN, subscription(status="cancelled", cancelled_at="2026-02-01"))
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        _engine(state, store, source, clock).run("sync")
        assert _dates(store) == [dt("2026-02-01")]
        # April: the source reactivates it and forgets the cancellation; a new invoice comes
        clock.now = dt("2026-04-15")
        source.records = [customer(), JAN, APR, subscription(status="active")]
        dry = Engine("c", source, state, None, rules=RuleSettings(), data_source="s",
                     clock=clock).run("sync")  # type: ignore[arg-type]
        real = _engine(state, store, source, clock).run("sync")
        assert dry.changes() == real.changes()
        assert _dates(store) == [dt("2026-02-01")]  # the churn that happened stays
        again = _engine(state, store, source, clock).run("sync")
        assert again.counts()["pushed"] == 0 and sum(again.changes().values()) == 0
        # and it is cancelled again later: the whole history is sent
        clock.now = dt("2026-06-01")
        source.records = [customer(), JAN, APR,
                          subscription(status="cancelled", cancelled_at="2026-05-10")]
        _engine(state, store, source, clock).run("sync")
        assert _dates(store) == [dt("2026-02-01"), dt("2026-05-10")]


def test_withdrawn_cancellation_is_removed(tmp_path: Path) -> None:
    clock = Clock("2026-01-20")  # the cancellation is scheduled for the period end
    source = Source(customer(), JAN, subscription(status="cancelled", cancelled_at="2026-02-01"))
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        _engine(state, store, source, clock).run("sync")
        assert _dates(store) == [dt("2026-02-01")]
        clock.now = dt("2026-01-25")  # undone before its date
        source.records = [customer(), JAN, subscription(status="active")]
        _engine(state, store, source, clock).run("sync")
        assert _dates(store) == []
        assert state.effective_cancellations("c", "cus_1") == {}


def test_scheduled_cancellation_takes_effect_without_a_source_change(tmp_path: Path) -> None:
    """A run after the scheduled date remembers it (the customer is looked at again then),
    so a reactivation read later keeps it."""
    clock = Clock("2026-01-20")
    source = Source(customer(), JAN, subscription(status="cancelled", cancelled_at="2026-02-01"))
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        _engine(state, store, source, clock).run("sync")
        assert state.effective_cancellations("c", "cus_1") == {}
        clock.now = dt("2026-02-05")
        source.quiet = True
        quiet = _engine(state, store, source, clock).run("sync")
        assert sum(quiet.changes().values()) == 0  # nothing to send...
        assert state.effective_cancellations("c", "cus_1") == {"sub_1": (dt("2026-02-01"),)}
        clock.now = dt("2026-04-15")
        source.records, source.quiet = [customer(), JAN, APR, subscription(status="active")], False
        _engine(state, store, source, clock).run("sync")
        assert _dates(store) == [dt("2026-02-01")]


def test_history_is_remembered_only_once_the_destination_accepted_it(tmp_path: Path) -> None:
    clock = Clock("2026-02-10")
    source = Source(customer(), JAN, subscription(status="cancelled", cancelled_at="2026-02-01"))
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        refused = _engine(state, Refusing(store), source, clock).run("sync")
        assert refused.status == "partial"
        assert state.effective_cancellations("c", "cus_1") == {}
        dry = Engine("c", source, state, None, rules=RuleSettings(), data_source="s",
                     clock=clock).run("sync")  # type: ignore[arg-type]
        assert state.effective_cancellations("c", "cus_1") == {}
        assert dry.changes()["cancelled"] == 1
        _engine(state, store, source, clock).run("sync")
        assert state.effective_cancellations("c", "cus_1") == {"sub_1": (dt("2026-02-01"),)}


def test_auto_churn_fires_on_a_later_run_without_any_source_change(tmp_path: Path) -> None:
    clock = Clock("2026-01-15")
    source = Source(customer(), JAN)  # no subscription row: inferred from the invoice line
    rules = RuleSettings(auto_churn_days=30)
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        def run(dest: Any) -> Any:
            return Engine("c", source, state, dest, rules=rules, data_source="s", clock=clock).run("sync")  # type: ignore[arg-type]

        run(store)
        assert _dates(store) == []
        source.quiet = True  # nothing new is read: the customer comes back by its re-check
        clock.now = dt("2026-03-10")  # the paid period ended Feb 1: 37 days ago
        dry = run(None)
        real = run(store)
        assert dry.changes() == real.changes() and real.changes()["cancelled"] == 1
        assert _dates(store) == [dt("2026-02-01")]
        assert sum(run(store).changes().values()) == 0
        # a later invoice reactivates it; the churn stays in the history
        clock.now = dt("2026-04-15")
        source.records, source.quiet = [customer(), JAN, APR], False
        run(store)
        assert _dates(store) == [dt("2026-02-01")]
