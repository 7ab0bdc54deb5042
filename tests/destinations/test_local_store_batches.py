"""The local store's bulk write path: held commits, ids in creation order, deferred plan refresh,
and the state file committing only after the store did."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from saasync.connector import ReadWindow
from saasync.destinations.local import LocalStore
from saasync.destinations.local.schema import OrderedUuids
from saasync.destinations.local.writer import DUPLICATE_LINE
from saasync.engine import Engine
from saasync.errors import BadRecordError
from saasync.models import SourceRecord
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from tests.destinations.test_local_store import out, sub
from tests.factories import customer, invoice, plan, sub_line

UUID7 = re.compile(r"^inv_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ordered_uuids_are_well_formed_unique_and_in_creation_order() -> None:
    make = OrderedUuids()
    ids = [make("inv") for _ in range(50_000)]
    assert all(UUID7.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    other = OrderedUuids()  # another store: its own random bits, so no shared ids
    assert not {other("inv") for _ in range(1000)} & set(ids)


def test_stored_uuids_are_ordered_and_chartmogul_shaped(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "a.db") as store:
        store.ensure_data_source("test")
        store.upsert_customer(customer("cus_1"))
        store.upsert_plan(plan())
        store.import_invoices("cus_1", [out(f"in_{n}", sub(5000)) for n in range(20)])
        uuids = [i.uuid for i in store.list_invoices()]
    assert all(UUID7.match(u) for u in uuids) and uuids == sorted(uuids)
    with LocalStore(tmp_path / "a.db") as again:  # stable: read back as written
        assert [i.uuid for i in again.list_invoices()] == uuids


def _other_count(path: Path) -> int:
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT count(*) FROM invoices").fetchone()[0])


def test_held_writes_are_seen_elsewhere_only_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = LocalStore(path)
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    store.hold_commits()
    assert store.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsynced
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    assert _other_count(path) == 0
    store.commit_held()
    assert _other_count(path) == 1
    store.import_invoices("cus_1", [out("in_2", sub(5000, "2026-02-01"), date="2026-02-01")])
    store.hold_commits(False)  # commits and goes back to a transaction per call
    assert _other_count(path) == 2
    assert store.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.hold_commits()
    store.import_invoices("cus_1", [out("in_3", sub(5000, "2026-03-01"), date="2026-03-01")])
    store.close()  # what was accepted is committed on close
    assert _other_count(path) == 3


def test_a_refused_call_while_held_undoes_only_itself(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "a.db")
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    store.hold_commits()
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    with pytest.raises(BadRecordError):
        store.import_invoices("cus_9", [out("in_2", sub(5000), cid="cus_9")])
    store.commit_held()
    assert [i.external_id for i in store.list_invoices()] == ["in_1"]
    store.close()


def test_a_scratch_store_is_never_fsynced_and_still_undoes_a_refused_call(
        tmp_path: Path) -> None:
    """A split sync's part (thrown away unless every part finished): no fsync, the rollback
    journal in memory, and a refused call still undone alone."""
    store = LocalStore(tmp_path / "part.db")
    store.db.scratch()
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    store.hold_commits()
    assert store.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF, held or not
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    with pytest.raises(BadRecordError):
        store.import_invoices("cus_9", [out("in_2", sub(5000), cid="cus_9")])
    store.hold_commits(False)
    assert store.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 0
    store.close()
    with LocalStore(tmp_path / "part.db") as again:
        assert [i.external_id for i in again.list_invoices()] == ["in_1"]


def test_plan_of_a_subscription_is_its_latest_line_s_within_one_call(tmp_path: Path) -> None:
    """The plan is refreshed once per subscription at the end of a call, not per invoice."""
    store = LocalStore(tmp_path / "a.db")
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    store.upsert_plan(plan("pl_yearly", "year"))
    results = store.import_invoices("cus_1", [
        out("in_2", sub(60000, "2026-02-01", plan_id="pl_yearly"), date="2026-02-01"),
        out("in_1", sub(5000)),
        out("in_3", sub(5000, "2026-03-01", plan_id="pl_nope"), date="2026-03-01"),  # refused
    ])
    assert [r.error is None for r in results] == [True, True, False]
    stored = store.get_subscription("cus_1", "sub_1")
    assert stored is not None and stored.plan_external_id == "pl_yearly"
    store.close()


def test_a_repeated_invoice_in_one_call_is_checked_like_a_stored_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "a.db")
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    first, same, differing = out("in_1", sub(5000)), out("in_1", sub(5000)), out("in_1", sub(7000))
    results = store.import_invoices("cus_1", [first, same, differing])
    assert results[0].destination_id == results[1].destination_id is not None
    assert results[2].error is not None
    assert store.counts()["invoices"] == 1
    store.close()


class _Source:
    name = "memory"

    def __init__(self, *records: SourceRecord) -> None:
        self.records = list(records)

    def read(self, window: ReadWindow) -> Iterator[object]:
        yield plan()
        yield from self.records


def test_the_state_commits_only_what_the_store_already_committed(tmp_path: Path) -> None:
    """At every commit of the state file, each invoice its pushed map holds is already
    committed in the store (read from another connection, as after a crash)."""
    records: list[SourceRecord] = []
    for c in range(30):
        records.append(customer(f"cus_{c}"))
        records += [invoice(f"in_{c}_{m}", f"2026-0{m}-01", [sub_line(5000, f"2026-0{m}-01")],
                            cid=f"cus_{c}") for m in range(1, 4)]
    checks: list[int] = []
    path = tmp_path / "a.db"
    with StateStore(tmp_path / "state.db") as state, LocalStore(path) as store:
        real_commit = store.commit_held

        def checked() -> None:  # the hook the sync gives the state file
            real_commit()
            pushed = {r[0] for r in state.db.execute(
                "SELECT external_id FROM pushed WHERE kind = 'invoice'")}
            with sqlite3.connect(path) as other:
                stored = {r[0] for r in other.execute("SELECT external_id FROM invoices")}
            assert pushed <= stored
            checks.append(len(pushed))

        store.commit_held = checked  # type: ignore[method-assign]
        state.flush = lambda every=0.0: StateStore.flush(state)  # type: ignore[method-assign]
        Engine("c", _Source(*records), state, store, rules=RuleSettings(),  # type: ignore[arg-type]
               data_source="s").run("sync")
        assert state.before_commit is None  # the run is over: no more coupling
    assert len(checks) >= 30 and max(checks) == 90


def test_a_line_id_taken_earlier_in_the_same_call_is_refused(tmp_path: Path) -> None:
    """Lines are written together at the end of a call: one still held back counts as taken."""
    store = LocalStore(tmp_path / "a.db")
    store.ensure_data_source("test")
    store.upsert_customer(customer("cus_1"))
    store.upsert_plan(plan())
    results = store.import_invoices("cus_1", [
        out("in_1", sub(5000, ext="li-1")),
        out("in_2", sub(5000, "2026-02-01", ext="li-1"), date="2026-02-01"),
        out("in_3", sub(5000, "2026-03-01", ext="li-3"), date="2026-03-01"),
    ])
    assert [r.error for r in results] == [None, DUPLICATE_LINE, None]
    assert [i.external_id for i in store.list_invoices()] == ["in_1", "in_3"]
    store.close()


def test_commit_interval_comes_from_the_environment_and_bad_values_name_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync.errors import ConfigError
    from saasync.sending import held_commit_seconds

    monkeypatch.delenv("SAASYNC_COMMIT_SECONDS", raising=False)
    assert held_commit_seconds() == 1.0
    monkeypatch.setenv("SAASYNC_COMMIT_SECONDS", "0.25")
    assert held_commit_seconds() == 0.25
    for bad in ("soon", "-1", "7200"):
        monkeypatch.setenv("SAASYNC_COMMIT_SECONDS", bad)
        with pytest.raises(ConfigError, match="SAASYNC_COMMIT_SECONDS.*" + bad):
            held_commit_seconds()
