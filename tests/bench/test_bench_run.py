"""Smoke test of ``bench/run.py``: the one benchmark command runs and writes every figure.

Tiny sizes only (--quick); no timing target is asserted (timings belong to the benchmark, not to
tests), but the figures must be consistent with what the runs did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_run_writes_every_figure_group(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--workdir", str(tmp_path), "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert {"throughput", "memory", "store", "incremental", "push", "backfill", "sources",
            "readback", "table"} <= set(figures)
    for heading in ("before #18", "4 dry run 1k", "3 real sync", "2 backfill", "1 source read stripe",
                    "5 explain ID", "5 reconcile read-back", "verdict"):
        assert heading in done.stdout

    [size] = figures["throughput"]
    assert 900 <= size["invoices"] <= 1100
    assert size["report_ok"] and size["same_counts"] and size["records_read"] > size["invoices"]
    assert size["floor_seconds"] > 0 and size["ratio_to_floor"] > 0 and size["peak_mb"] > 0
    assert figures["startup_seconds"] > 0

    [store] = figures["store"]
    assert store["report_ok"] and store["same_counts"] and store["pushed"] > 0
    assert store["ratio_to_dry_run"] == store["seconds"] / size["seconds"]

    inc = figures["incremental"]
    assert inc["initial"]["status"] == "ok" and inc["initial"]["pushed"] > 0
    assert inc["nothing_new"]["pushed"] == 0 and inc["nothing_new"]["analytics_unchanged"]
    assert inc["nothing_new"]["read"] == 0  # unchanged exports are not read at all
    assert inc["file_touched"]["status"] == "ok" and inc["file_touched"]["pushed"] == 0
    assert [c["k"] for c in inc["changes"]] == [k for k in (10, 100) if k < size["invoices"] / 10]
    for change in inc["changes"]:
        assert change["status"] == "ok" and change["changed"] == change["k"]
        assert change["read"] >= change["k"] and change["pushed"] >= change["k"]

    assert set(figures["push"]) == {"per_customer", "bulk", "auto"}
    for mode in figures["push"].values():
        assert mode["invoices"] == 60 and mode["requests_per_1000_invoices"] > 0
        assert mode["minimum_per_1000_invoices"] > 0
    # 1 plan + 5 customers + 60 invoices = 66 objects, not above bulk_threshold = 100
    assert figures["push"]["auto"]["import_mode"] == "per_customer"

    backfill = figures["backfill"]
    assert backfill["customers"] == 84 and backfill["measured"]["invoices"] == 84 * 12
    assert backfill["measured"]["import_mode"] == "bulk"  # 1k invoices is above the threshold
    assert backfill["per_customer_requests"] == 4 + 2 * 84

    assert set(figures["sources"]) == {"stripe", "chargebee", "recurly"}
    assert all(f["equal_to_sequential"] and f["requests"] > 0 for f in figures["sources"].values())
    [sample] = figures["readback"]["rows"]
    assert sample["explain"]["requests"] > 0 and sample["reconcile"]["requests"] > 0
