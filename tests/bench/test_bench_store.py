"""Smoke test of ``bench/store.py``: a real sync and a dry run of a tiny data set, compared.

No timing target is asserted (timings belong to the benchmark, not to tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_store_compares_the_real_sync_with_the_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "bench/store.py", "--quick", "--workdir", str(tmp_path),
         "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    [size] = figures["sizes"]
    assert size["size"] == "1k" and 900 <= size["invoices"] <= 1100
    assert size["ok"] and size["same_counts"]
    assert size["runs"]["real"][0]["pushed"] > size["invoices"] / 2
    assert size["dry_seconds"] > 0 and size["real_seconds"] > 0 and size["store_mb"] > 0
    assert size["ratio"] == size["real_seconds"] / size["dry_seconds"]
    assert size["dry_one_process_seconds"] > 0 and size["real_one_process_seconds"] > 0
    assert size["runs"]["real_one_process"][0]["pushed"] == size["runs"]["real"][0]["pushed"]
    assert size["writing_seconds"] == (size["real_one_process_seconds"]
                                       - size["dry_one_process_seconds"])
    assert "1k" in done.stdout and "ratio" in done.stdout
