"""Smoke test of ``bench/source_reads.py``: quick mode runs, and every connector's figures
are there and say the windowed read handed on what a read one list at a time does.

No rate is asserted (rates belong to the benchmark's printout, not to tests).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_source_reads_report_every_connector(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_source_reads", ROOT / "bench" / "source_reads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    found = module.figures(tmp_path, quick=True)
    assert set(found) == {"stripe", "chargebee", "recurly"}
    for name, f in found.items():
        assert f["equal_to_sequential"] is True, name
        assert f["records"] > 50 and f["requests"] > 20, name
        assert f["achieved_per_second"] > 0 and f["limit_per_second"] > 0, name
        assert f["throttled_429"] >= 0 and f["most_in_flight"] >= 1, name
        assert f["concurrency"] > 1 and f["most_in_flight"] > 1, f"{name} read one list at a time"
