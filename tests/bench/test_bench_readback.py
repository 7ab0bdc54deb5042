"""Smoke test of ``bench/readback.py``: ``figures(quick=True)`` runs and names every figure.

The sample at 0 ms only; no timing target is asserted (timings belong to the benchmark).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readback_bench_measures_explain_reconcile_and_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "bench/readback.py", "--quick", "--workdir", str(tmp_path / "work"),
         "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["rate_limit"] == 40
    [row] = figures["rows"]
    assert row["data"] == "sample" and row["latency_ms"] == 0
    explain, reconcile, dry_run = row["explain"], row["reconcile"], row["sync_dry_run"]
    assert 1 <= explain["requests"] <= 6 and "read_back" not in explain  # one customer
    for whole in (reconcile, dry_run):
        read = whole["read_back"]
        assert whole["requests"] >= read["requests"] > 200  # the sample's listings
        assert 0 < read["seconds"] <= whole["seconds"] and 0 < read["share"] <= 100
        assert whole["share"] > 0 and whole["output_sha"]
    assert reconcile["output_sha"] != dry_run["output_sha"]
    assert "sync_dry_run" in done.stdout and "read-back" in done.stdout
