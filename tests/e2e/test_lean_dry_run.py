"""A fresh dry run built customer by customer (``saasync.lean``) says exactly what the staged
path says, and falls back to it when the export is not grouped by customer."""

from __future__ import annotations

import gc
import json
import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from saasync import engine as engine_module
from saasync import lean
from saasync.run_report import RunReport
from tests.e2e.conftest import RunCli, run_json, write_config

BENCH = Path(__file__).resolve().parents[2] / "bench"


def generated(out: Path, customers: int = 40, seed: int = 5) -> Path:
    sys.path.insert(0, str(BENCH))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(BENCH))
    generate(out, customers=customers, months=8, seed=seed)
    return out


def report_of(run_cli: RunCli, config: Path, workers: int) -> dict[str, Any]:
    report = run_json(run_cli, "sync", "--config", str(config), "--dry-run", "--workers",
                      str(workers))
    report.pop("duration_s")
    return report


class Spy:
    """Notes each one-pass attempt and how it ended, in a file: partitions are forked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        self.log = folder / "attempts.txt"
        real, log = lean.stream, self.log

        def stream(*args: Any) -> Any:
            try:
                result = real(*args)
            except lean.NotGrouped:
                with log.open("a") as handle:
                    handle.write("fell-back\n")
                raise
            with log.open("a") as handle:
                handle.write("streamed\n")
            return result

        monkeypatch.setattr(lean, "stream", stream)

    @property
    def outcomes(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


def staged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "stream_fresh", lambda *args: None)


def invoice_rows(data: Path) -> list[str]:
    return (data / "invoices.jsonl").read_text(encoding="utf-8").splitlines()


def with_edge_rows(data: Path) -> list[str]:
    """A customer with no invoice (between two that have some) and one sorting after all
    added to ``data``; its invoice rows returned with a bad row inside its customer's group
    (quarantined; a grouped export stays one pass), for the caller to write back."""
    with (data / "customers.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"external_id": "cus_0000010a", "name": "No invoices"}) + "\n")
        handle.write(json.dumps({"external_id": "cus_zzz", "name": "Last"}) + "\n")
    rows = invoice_rows(data)
    bad = json.loads(rows[3])
    bad.update(external_id="inv_bad_amount", status="paid")
    bad["lines"][0]["amount"] = "twelve"
    rows.insert(4, json.dumps(bad))
    return rows


@pytest.mark.parametrize("workers", [1, 2])
def test_grouped_export_streams_and_reports_as_the_staged_path(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    data = generated(tmp_path / "data")
    rows = with_edge_rows(data)
    (data / "invoices.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = write_config(tmp_path, data)
    spy = Spy(monkeypatch, tmp_path)
    lean_report = report_of(run_cli, config, workers)
    assert spy.outcomes == ["streamed"] * workers
    assert lean_report["counts"]["balanced"] and lean_report["counts"]["quarantined"]
    staged(monkeypatch)
    assert report_of(run_cli, config, workers) == lean_report  # list order included
    assert spy.outcomes == ["streamed"] * workers  # the staged run did not try
    customers = [op["external_id"] for op in lean_report["ops"] if op["kind"] == "customer"]
    assert "cus_0000010a" in customers and customers[-1] == "cus_zzz"


@pytest.mark.parametrize(("change", "outcome"), [
    ("shuffled", "fell-back"), ("customer_back", "fell-back"), ("duplicate", "streamed")])
def test_an_export_out_of_order_falls_back_to_the_staged_path(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, change: str,
        outcome: str) -> None:
    data = generated(tmp_path / "data")
    rows = invoice_rows(data)
    if change == "shuffled":
        random.Random(1).shuffle(rows)
    elif change == "customer_back":  # the first customer again at the very end
        rows.append(rows.pop(0))
    else:  # an id repeated in the last customer's group: quarantined there, in order
        rows.append(json.dumps({**json.loads(rows[-1]), "external_id": json.loads(rows[0])["external_id"]}))
    (data / "invoices.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = write_config(tmp_path, data)
    spy = Spy(monkeypatch, tmp_path)
    report = report_of(run_cli, config, 1)
    assert spy.outcomes == [outcome]
    staged(monkeypatch)
    assert report_of(run_cli, config, 1) == report
    assert report["counts"]["balanced"] and report["changes"]["created"] > 0
    if change == "duplicate":
        assert report["counts"]["quarantined"] == {"INVALID_RECORD": 1}


def test_after_a_sync_the_staged_path_is_used(tmp_path: Path, run_cli: RunCli,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """History lives in the state once a sync went through: one pass would miss it."""
    data = generated(tmp_path / "data", customers=10)
    config = write_config(tmp_path, data)
    run_json(run_cli, "sync", "--config", str(config))
    spy = Spy(monkeypatch, tmp_path)
    report = report_of(run_cli, config, 1)
    assert spy.outcomes == [] and report["changes"]["created"] == 0


def test_tuned_gc_restores_the_collector() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with lean.tuned_gc((12_345, 11, 12)):
        assert gc.get_threshold() == (12_345, 11, 12)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), lean.tuned_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_tuned_gc_leaves_a_freeze_it_did_not_make() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with lean.tuned_gc():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_tuned_gc_overlapping_in_threads_restores_what_was_there_first() -> None:
    """Two runs in threads (a Celery thread pool): the one that ends first leaves the
    collector tuned for the other, the last one out restores it."""
    before = gc.get_threshold()
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with lean.tuned_gc((12_345, 11, 12)):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with lean.tuned_gc((12_345, 11, 12)):
            second_in.set()
            first_out.wait(5)
            seen.append(gc.get_threshold())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [(12_345, 11, 12)]  # still tuned after the first run left
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_real_sync_runs_with_the_collector_tuned(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   run_cli: RunCli) -> None:
    seen: list[tuple[int, int, int]] = []
    real = engine_module.Engine._run

    def spying(self: engine_module.Engine, *args: Any) -> RunReport:
        seen.append(gc.get_threshold())
        return real(self, *args)

    monkeypatch.setattr(engine_module.Engine, "_run", spying)
    before = gc.get_threshold()
    config = write_config(tmp_path, generated(tmp_path / "data", customers=4))
    run_json(run_cli, "sync", "--config", str(config), "--workers", "1")  # in this process
    assert seen == [lean.GC_THRESHOLD] and gc.get_threshold() == before


def test_lead_with_lists_as_if_the_keys_were_sealed_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync import run_report

    monkeypatch.setattr(run_report, "DETAIL_CAP", 3)
    report = RunReport("c", "sync", True)
    for n in range(4):
        report.set("invoice", f"i{n}", "pushed")
        report.seal()
    report.set("invoice", "bad", "quarantined", "INVALID_RECORD", "x")
    report.seal()
    report.lead_with([("invoice", "bad")])
    listed = [(r["external_id"]) for r in report.as_dict()["quarantined_records"]]
    assert listed == ["bad"]
    assert [op for op in report._details] == [("invoice", "bad"), ("invoice", "i0"), ("invoice", "i1")]
    assert report.counts()["read"] == 5


def test_a_stop_between_customers_ends_the_one_pass_run(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync.runner import run_connection
    from saasync.settings import load_settings

    data = generated(tmp_path / "data", customers=12)
    config = write_config(tmp_path, data)
    settings = load_settings(config)
    name, conn = settings.connection(None)
    spy = Spy(monkeypatch, tmp_path)
    asked = 0

    def stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 5  # five customers built, then stop

    report = run_connection(settings, name, conn, mode="sync", dry_run=True, workers=1,
                            should_stop=stop)
    assert spy.outcomes == ["streamed"] and report.status == "stopped"
    built = {op.customer_external_id for op in report.ops if op.customer_external_id}
    assert len(built) == 5 and report.counts()["balanced"]
