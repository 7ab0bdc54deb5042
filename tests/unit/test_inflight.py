"""Settling a bulk import a dead run left in flight (``saasync.inflight``), without HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saasync.destinations.chartmogul.bulk import manifest, results_of
from saasync.inflight import hashes_for, settle_in_flight
from saasync.state import StateStore

FOUND: dict[str, Any] = {
    "plans": ["pro"],
    "customers": {"c1": {"customer": True, "invoices": ["i1", "i2"]},
                  "c2": {"customer": False, "invoices": ["j1"]}},
}
PLANNED = {("plan", "pro"): "hp", ("customer", "c1"): "hc1", ("invoice", "i1"): "hi1",
           ("invoice", "i2"): "hi2", ("invoice", "j1"): "hj1", ("customer", "other"): "x"}
DONE = {"status": "completed"}
STATUS = {"status": "completed_with_errors", "status_details": {
    "plans": DONE,
    "c1": {"customers": DONE, "line_items": DONE, "transactions": DONE,
           "invoices": {"status": "failed", "errors": {"i2": {"currency": "is invalid"}}}},
    "c2": {"invoices": DONE, "line_items": DONE, "transactions": DONE},
}}


def pushed(state: StateStore, kind: str, *ids: str) -> dict[str, str]:
    return {ext: hash_ for ext, (_, hash_) in state.pushed_many("conn", kind, ids).items()}


class Account:
    """A destination that answers for one import, as ChartMogul's status would."""

    def __init__(self, status: dict[str, Any] | None) -> None:
        self.status = status
        self.asked: list[tuple[str, str]] = []

    def settle_import(self, ds: str, import_id: str, found: dict[str, Any]) -> Any:
        self.asked.append((ds, import_id))
        return None if self.status is None else results_of(found, self.status, import_id)


def test_a_manifest_names_what_the_import_carries_and_its_results_map_back() -> None:
    assert hashes_for(FOUND, PLANNED) == {"plan:pro": "hp", "customer:c1": "hc1",
                                          "invoice:i1": "hi1", "invoice:i2": "hi2",
                                          "invoice:j1": "hj1"}
    results = {(r.kind, r.external_id): r.error for r in results_of(FOUND, STATUS, "imp1")}
    assert set(results) == {("plan", "pro"), ("customer", "c1"), ("invoice", "i1"),
                            ("invoice", "i2"), ("invoice", "j1")}
    assert [k for k, error in results.items() if error] == [("invoice", "i2")]
    assert "is invalid" in str(results[("invoice", "i2")])


def test_manifest_of_a_batch_is_what_results_of_reads() -> None:
    from saasync.destinations.chartmogul.bulk import _Group

    batch = {"c1": _Group(customer={"external_id": "c1"},
                          invoices=[{"external_id": "i1"}, {"external_id": "i2"}]),
             "c2": _Group(invoices=[{"external_id": "j1"}])}
    assert manifest({"pro": {}}, batch) == FOUND


def test_the_next_run_records_what_the_import_accepted_and_forgets_it(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state:
        state.record_import("conn", "imp1", "ds_1", {**FOUND, "hashes": hashes_for(FOUND, PLANNED)})
        state.record_import("other", "imp9", "ds_1", FOUND)
        account = Account(STATUS)
        settled = settle_in_flight(state, "conn", account)
        assert settled == [{"import_id": "imp1", "accepted": 4, "refused": 1, "known": True}]
        assert account.asked == [("ds_1", "imp1")]
        assert state.imports_in_flight("conn") == []
        assert [i for i, _, _ in state.imports_in_flight("other")] == ["imp9"]
        assert pushed(state, "invoice", "i1", "i2", "j1") == {"i1": "hi1", "j1": "hj1"}
        assert pushed(state, "customer", "c1", "c2") == {"c1": "hc1"}
        assert pushed(state, "plan", "pro") == {"pro": "hp"}
        assert settle_in_flight(state, "conn", account) == []  # nothing left: nothing asked
        assert len(account.asked) == 1


def test_an_import_chartmogul_does_not_know_is_forgotten_and_its_records_resent(
        tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state:
        state.record_import("conn", "gone", "ds_1", {**FOUND, "hashes": hashes_for(FOUND, PLANNED)})
        assert settle_in_flight(state, "conn", Account(None)) == [
            {"import_id": "gone", "accepted": 0, "refused": 0, "known": False}]
        assert state.imports_in_flight("conn") == []
        assert pushed(state, "invoice", "i1", "i2", "j1") == {}


def test_a_destination_without_bulk_imports_leaves_the_record(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state:
        state.record_import("conn", "imp1", "ds_1", FOUND)
        assert settle_in_flight(state, "conn", object()) == []
        assert len(state.imports_in_flight("conn")) == 1
