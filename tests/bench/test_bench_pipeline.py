"""Smoke test of ``bench/pipeline.py``: the dry-run-against-the-floor benchmark runs and
writes every figure. Tiny size only; no timing target is asserted (timings belong to the
benchmark, not to tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_pipeline_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "bench/pipeline.py", "--quick", "--workdir", str(tmp_path),
         "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["target_ratio"] == 5.0
    [size] = figures["sizes"]
    assert size["size"] == "2k" and 1800 <= size["invoices"] <= 2400
    assert size["same_counts"] and size["report_ok"] and size["read"] > size["invoices"]
    for name in ("floor_seconds", "seconds_2proc", "seconds_1proc", "ratio_2proc",
                 "ratio_1proc", "cpu_seconds_1proc", "peak_mb_2proc", "peak_mb_1proc"):
        assert size[name] > 0, name
    stages = size["stages_us_per_invoice"]
    assert set(stages) == {"startup", "decode", "map_and_validate", "build_diff_report", "total"}
    assert stages["decode"] > 0 and stages["map_and_validate"] > 0
    assert "2k" in done.stdout and "µs of CPU per invoice" in done.stdout


def test_bench_pipeline_without_turns_changes_off(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "bench/pipeline.py", "--quick", "--without", "one_pass,gc",
         "--workdir", str(tmp_path), "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(out.read_text())["without"]
    assert set(runs) == {"none", "one_pass", "gc"}
    assert all(run["cpu_seconds"] > 0 for run in runs.values())
    assert "without one_pass" in done.stdout
