"""`saasync review map`: a held invoice waits for its item's mapping, then the next sync re-reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from saasync.connector import ItemMapping, Quarantined, ReadWindow
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.reasons import Reason
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from tests.e2e.conftest import RunCli, write_config
from tests.factories import customer, dt, invoice, plan, sub_line


class Accounting:
    """An accounting source: its one invoice can be classified only once ITEM-9 is mapped."""

    name = "accounting"

    def __init__(self, mappings: dict[str, ItemMapping]) -> None:
        self.mappings = mappings
        self.windows: list[ReadWindow] = []

    def read(self, window: ReadWindow) -> Iterator[object]:
        self.windows.append(window)
        yield plan("pl_support")
        yield customer("cus_1", updated_at=dt("2026-10-01"))
        issued = dt("2026-03-01")
        if window.since is not None and issued < window.since:
            return
        if "ITEM-9" in self.mappings:
            yield invoice("in_1", "2026-03-01", [sub_line(5000, "2026-03-01", plan_id="pl_support")])
        else:
            yield Quarantined("invoice", "in_1", Reason.UNMAPPED_ITEM, "invoice 'in_1': line 1: item 'ITEM-9' is not mapped",
                              field="lines.0.item", raw={"item": "ITEM-9", "issued_at": "2026-03-01T00:00:00Z"})


def test_mapping_an_item_sends_the_held_invoice_on_the_next_sync(tmp_path: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, tmp_path)
    with StateStore(tmp_path / "state" / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        source = Accounting(state.item_mappings("sample"))
        engine = Engine("sample", source, state, store, rules=RuleSettings(), data_source="s")  # type: ignore[arg-type]
        first = engine.run("sync")
        assert first.get("invoice", "in_1").reason == "UNMAPPED_ITEM"  # type: ignore[union-attr]
        assert [i.reason for i in state.review_items("sample")] == ["UNMAPPED_ITEM"]
        # a later incremental run without a mapping does not go back in time
        engine.lookback = timedelta(hours=1)
        assert engine.window_for("sync", None, None).since == dt("2026-10-01") - timedelta(hours=1)

    code, out, _ = run_cli("review", "map", "ITEM-9", "--plan", "pl_support", "--config", str(config))
    assert code == 0 and "1 invoice(s)" in out

    with StateStore(tmp_path / "state" / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        source = Accounting(state.item_mappings("sample"))
        engine = Engine("sample", source, state, store, rules=RuleSettings(), data_source="s",
                        lookback=timedelta(hours=1))  # type: ignore[arg-type]
        second = engine.run("sync")
        assert source.windows[-1].since == dt("2026-03-01")
        assert second.get("invoice", "in_1").outcome == "pushed"  # type: ignore[union-attr]
        assert second.counts()["balanced"]
        assert state.review_items("sample") == []
        assert [i.external_id for i in store.list_invoices("cus_1")] == ["in_1"]


def test_review_map_needs_a_plan_or_one_time(tmp_path: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, tmp_path)
    code, _, err = run_cli("review", "map", "ITEM-9", "--config", str(config))
    assert code == 2 and "--plan" in err
