"""The dry-run pipeline against its floor (issue #18 target 4): ≤ 5× the floor on 2 processes.

    python bench/pipeline.py --sizes 100k,1m --repeat 3
    python bench/pipeline.py --sizes 10k --json out.json

For each size: the floor (a fresh process that only reads and ``json.loads`` every line, as
``bench/run.py`` defines it), then ``saasync sync --dry-run`` into a fresh state, with the
default processes (2 on this machine) and with ``--workers 1``: best wall time of
``--repeat`` runs each, the ratios to the floor, the peak memory of the process tree, and
whether every run's counts agree. Data sets come from ``bench/generate.py`` through
``bench/run.py``'s ``dataset()`` (cached in the workdir).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import FLOOR, ROOT, dataset, fresh, log, measure, parse_size, saasync_sync, write_config

Figures = dict[str, Any]
TARGET = 5.0  # × the floor, on 2 processes
QUICK_SIZE = "2k"


def floor_seconds(workdir: Path, data: Path, repeat: int) -> float:
    out = workdir / "floor.out"
    best = min(measure([sys.executable, "-c", FLOOR, str(data)], out)[0] for _ in range(repeat))
    out.unlink()
    return best


def dry_runs(workdir: Path, label: str, data: Path, repeat: int,
             workers: int | None) -> list[Figures]:
    name = f"pipeline-{label}-{workers or 'auto'}"
    return [saasync_sync(write_config(fresh(workdir / name), data), dry_run=True, workers=workers)
            for _ in range(repeat)]


def size_figures(workdir: Path, label: str, repeat: int, months: int = 12,
                 seed: int = 7) -> Figures:
    data, meta = dataset(workdir, parse_size(label), months, seed)
    log(f"pipeline {label}: {meta['invoices']:,} invoices; floor, then dry runs")
    floor = floor_seconds(workdir, data, repeat)
    two = dry_runs(workdir, label, data, repeat, None)
    one = dry_runs(workdir, label, data, repeat, 1)
    best2 = min(r["seconds"] for r in two)
    best1 = min(r["seconds"] for r in one)
    runs = two + one
    return {
        "size": label, "invoices": meta["invoices"], "input_mb": meta["input_mb"],
        "floor_seconds": floor, "seconds_2proc": best2, "seconds_1proc": best1,
        "ratio_2proc": best2 / floor, "ratio_1proc": best1 / floor,
        "all_2proc_seconds": [r["seconds"] for r in two],
        "all_1proc_seconds": [r["seconds"] for r in one],
        "peak_mb_2proc": max(r["peak_mb"] for r in two),
        "peak_mb_1proc": max(r["peak_mb"] for r in one),
        "read": runs[0]["read"],
        "same_counts": all((r["read"], r["pushed"], r["unchanged"])
                           == (runs[0]["read"], runs[0]["pushed"], runs[0]["unchanged"])
                           for r in runs),
        "report_ok": all(r["status"] == "ok" and r["balanced"] for r in runs),
    }


def figures(workdir: Path, quick: bool, sizes: str = "100k,1m", repeat: int = 3) -> Figures:
    """Every figure at ``sizes`` (``quick``: one run at 2k invoices)."""
    workdir.mkdir(parents=True, exist_ok=True)
    labels = [QUICK_SIZE] if quick else [s.strip() for s in sizes.split(",") if s.strip()]
    return {"target_ratio": TARGET,
            "sizes": [size_figures(workdir, label, 1 if quick else repeat) for label in labels]}


def table(result: Figures) -> str:
    lines = ["size   invoices   floor s  2-proc s  ratio  1-proc s  ratio  peak MB (2p/1p)  same"]
    for s in result["sizes"]:
        lines.append(
            f"{s['size']:<6} {s['invoices']:>9,} {s['floor_seconds']:>8.2f} "
            f"{s['seconds_2proc']:>9.2f} {s['ratio_2proc']:>5.1f}× {s['seconds_1proc']:>8.2f} "
            f"{s['ratio_1proc']:>5.1f}× {s['peak_mb_2proc']:>7.0f} / {s['peak_mb_1proc']:<6.0f} "
            f"{'yes' if s['same_counts'] and s['report_ok'] else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="invoice counts, e.g. 100k,1m")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--quick", action="store_true", help=f"one run at {QUICK_SIZE}")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args(argv)
    result = figures(args.workdir.resolve(), args.quick, args.sizes, args.repeat)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
