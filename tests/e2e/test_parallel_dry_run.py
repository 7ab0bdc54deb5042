"""A dry run split over several processes says exactly what one process says (issue #9).

Each partition reads only its customers' rows (the files connector tells JSON lines apart
before decoding them), every partition reads the plans, and the parent adds the reports
up: the counts, the changes and every listed record must be the same as with one process.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunCli, run_json, write_config

BENCH = Path(__file__).resolve().parents[2] / "bench"


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the number of processes (lists compared as sorted sets)."""

    def rows(name: str) -> list[str]:
        return sorted(json.dumps(row, sort_keys=True) for row in report.get(name, []))

    return {
        "counts": report["counts"], "by_kind": report["by_kind"], "changes": report["changes"],
        "re_evaluated_ops": report["re_evaluated_ops"], "status": report["status"],
        "ops": rows("ops"), "skipped_records": rows("skipped_records"),
        "quarantined_records": rows("quarantined_records"),
        "source_unchanged": report.get("source_unchanged", False),
    }


def dry_run(run_cli: RunCli, config: Path, workers: int, *extra: str) -> dict[str, Any]:
    return run_json(run_cli, "sync", "--config", str(config), "--dry-run", "--workers",
                    str(workers), *extra)


@pytest.fixture
def jsonl_dir(tmp_path: Path) -> Path:
    """A generated JSON Lines export in date order (customers interleaved, as a billing
    system exports), with the rows that make partitioning hard."""
    sys.path.insert(0, str(BENCH))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(BENCH))
    out = tmp_path / "jsonl"
    generate(out, customers=60, months=8, seed=11)
    invoices = out / "invoices.jsonl"
    rows = [json.loads(line) for line in invoices.read_text(encoding="utf-8").splitlines()]
    random.Random(3).shuffle(rows)
    first, second = rows[0], next(r for r in rows if r["customer_external_id"] != rows[0]["customer_external_id"])
    duplicate = {**second, "external_id": first["external_id"]}  # same id, another customer
    nested_ids = {**rows[1], "external_id": "inv_nested_ids",
                  "lines": [{**line, "external_id": f"line_{n}"} for n, line in enumerate(rows[1]["lines"])]}
    lines = [json.dumps(row) for row in rows]
    lines.insert(len(lines) // 2, json.dumps(duplicate))
    lines.insert(5, json.dumps(nested_ids))
    lines.insert(7, '{"external_id": "inv_broken", "customer_external_id": "cus_0000001", ')
    lines.insert(9, json.dumps({**rows[2], "external_id": "inv_escaped"}).replace(
        f'"customer_external_id": "{rows[2]["customer_external_id"]}"',
        '"customer_external_id": "' + rows[2]["customer_external_id"].replace("_", "\\u005f") + '"'))
    invoices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (out / "customers.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"external_id": "cus_bad", "created_at": "not a date"}\n')
    with (out / "plans.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"external_id": "plan_bad", "name": "Bad", "interval_unit": "fortnight"}\n')
    return out


@pytest.mark.parametrize("workers", [2, 3])
def test_jsonl_dry_run_in_partitions_equals_one_process(tmp_path: Path, jsonl_dir: Path,
                                                        run_cli: RunCli, workers: int) -> None:
    config = write_config(tmp_path, jsonl_dir)
    one = dry_run(run_cli, config, 1)
    many = dry_run(run_cli, config, workers)
    assert comparable(many) == comparable(one)
    assert one["counts"]["balanced"] and one["counts"]["read"] > 500
    quarantined = {(q["external_id"], q["reason"]) for q in many["quarantined_records"]}
    # each problem is reported once, by one partition
    assert sum(1 for q in many["quarantined_records"] if "duplicate invoice" in (q["message"] or "")) == 1
    assert ("plan_bad", "INVALID_RECORD") in quarantined
    assert ("cus_bad", "INVALID_RECORD") in quarantined
    assert sum(1 for q in many["quarantined_records"] if "not valid JSON" in (q["message"] or "")) == 1
    seen = {op["external_id"] for op in many["ops"]} | {s["external_id"] for s in many["skipped_records"]}
    assert {"inv_nested_ids", "inv_escaped"} <= seen  # rows routed only once decoded


def test_csv_sample_dry_run_in_partitions_equals_one_process(config: Path, run_cli: RunCli) -> None:
    one = dry_run(run_cli, config, 1)
    two = dry_run(run_cli, config, 2)
    assert comparable(two) == comparable(one)
    assert one["counts"]["quarantined"]  # the sample's deliberately bad rows, once each


def test_partitions_agree_after_a_sync_with_changes_since(tmp_path: Path, jsonl_dir: Path,
                                                          run_cli: RunCli) -> None:
    """Against a store that already holds a sync: history comes from the store, only what
    changed is read, and the partitions still add up to one process's answer."""
    config = write_config(tmp_path, jsonl_dir)
    run_json(run_cli, "sync", "--config", str(config))
    invoices = jsonl_dir / "invoices.jsonl"
    lines = invoices.read_text(encoding="utf-8").splitlines()
    changed = 0
    for n, line in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("status") == "paid" and changed < 25:
            row["status"], row["updated_at"] = "void", "2099-01-01T00:00:00Z"
            lines[n] = json.dumps(row)
            changed += 1
    invoices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = dry_run(run_cli, config, 1)
    two = dry_run(run_cli, config, 2)
    assert comparable(two) == comparable(one)
    # each voided invoice that had been sent is voided (one held before its subscription's
    # first non-$0 invoice was never sent, so there is nothing to void)
    assert 20 <= one["changes"]["voided"] <= 25


def test_backfill_dry_run_in_partitions(tmp_path: Path, jsonl_dir: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, jsonl_dir)
    args = ("backfill", "--config", str(config), "--dry-run", "--since", "2020-01-01")
    one = run_json(run_cli, *args, "--workers", "1")
    two = run_json(run_cli, *args, "--workers", "2")
    assert comparable(two) == comparable(one)


def test_a_dry_run_writes_nothing_whatever_the_workers(tmp_path: Path, jsonl_dir: Path,
                                                       run_cli: RunCli) -> None:
    config = write_config(tmp_path, jsonl_dir)
    report = dry_run(run_cli, config, 2)
    assert report["changes"]["created"] > 0
    assert not (tmp_path / "store" / "analytics.db").exists()
    code, out, _ = run_cli("runs", "--config", str(config), "--json")
    assert code == 0 and json.loads(out) == []
    assert comparable(dry_run(run_cli, config, 2)) == comparable(report)  # nothing moved


def test_workers_on_a_connector_that_cannot_split_says_so(config: Path, run_cli: RunCli,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync_connectors.files.connector import FilesConnector

    class Unsplittable(FilesConnector):
        partition = None  # not Partitionable

    monkeypatch.setattr("saasync.runner.load_connector_class", lambda name: Unsplittable)
    code, out, err = run_cli("sync", "--config", str(config), "--dry-run", "--workers", "2", "--json")
    assert code == 0 and json.loads(out)["counts"]["balanced"]
    assert "reads in one process: --workers is not used" in err
