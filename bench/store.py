"""A real ``saasync sync`` into the local store against the dry run of the same data (issue #18).

    python bench/store.py --sizes 100k,1m            # target: the real sync within 2× the dry run
    python bench/store.py --sizes 10k --repeat 3 --json out.json

For each size: a dry run (its default processes), a dry run in one process, a first sync
into an empty local store (state and store files fresh) with its default processes (split,
``saasync.split``) and one in one process, all fresh processes on
bench/generate.py's data (cached in the workdir like bench/run.py's). Printed per size: wall
seconds of each, the real sync ÷ the dry run (the target), "writing" = the one-process
real sync − the one-process dry run (what the store, the pushed map and the on-disk mirror
cost), CPU seconds (user + system, every
process of the run; steadier than wall time on a busy machine) and the store's size. The
counts of every run must agree (read and pushed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import dataset, fresh, parse_size, run_counts, write_config

Figures = dict[str, Any]
TARGET = 2.0  # the real sync's wall time ÷ the dry run's


def timed_sync(config: Path, *, dry_run: bool, workers: int | None = None) -> Figures:
    """One ``saasync sync`` as a fresh process: wall and CPU seconds, and its counts."""
    cmd = [sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json"]
    cmd += ["--dry-run"] if dry_run else []
    cmd += ["--workers", str(workers)] if workers else []
    out, err = config.with_name("report.json"), config.with_name("report.err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # usage covers the forked partitions too
        seconds = time.perf_counter() - started
    text = err.read_text(errors="replace")
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    counts = run_counts(out, text)
    out.unlink()
    err.unlink()
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "status": counts.get("status"), "read": counts.get("read"),
            "pushed": counts.get("pushed")}


def one_size(workdir: Path, label: str, repeat: int) -> Figures:
    data, meta = dataset(workdir, parse_size(label), 12, 7)
    dry_runs, one_runs, real_runs, real_one_runs = [], [], [], []
    for _ in range(repeat):  # alternated, so a busy spell of the machine hits all alike
        dry_runs.append(timed_sync(write_config(fresh(workdir / f"store-dry-{label}"), data),
                                   dry_run=True))
        one_runs.append(timed_sync(write_config(fresh(workdir / f"store-dry-{label}"), data),
                                   dry_run=True, workers=1))
        real_one_runs.append(timed_sync(write_config(fresh(workdir / f"store-real-{label}"),
                                                     data), dry_run=False, workers=1))
        run_dir = fresh(workdir / f"store-real-{label}")
        real_runs.append(timed_sync(write_config(run_dir, data), dry_run=False))
    dry, one, real, real_one = (min(runs, key=lambda r: r["seconds"])
                                for runs in (dry_runs, one_runs, real_runs, real_one_runs))
    store = run_dir / "state" / "analytics.db"
    return {"size": label, "invoices": meta["invoices"], "customers": meta["customers"],
            "dry_seconds": dry["seconds"], "real_seconds": real["seconds"],
            "ratio": real["seconds"] / dry["seconds"],
            # a first sync splits over processes as the dry run does (saasync.split); in one
            # process, what it adds to a one-process dry run is the cost of writing (the
            # store, the pushed map, the mirror on disk)
            "dry_one_process_seconds": one["seconds"],
            "real_one_process_seconds": real_one["seconds"],
            "writing_seconds": real_one["seconds"] - one["seconds"],
            "dry_cpu_seconds": dry["cpu_seconds"], "real_cpu_seconds": real["cpu_seconds"],
            "cpu_ratio": real["cpu_seconds"] / dry["cpu_seconds"],
            "store_mb": store.stat().st_size / 2**20,
            "same_counts": all(r["read"] == dry["read"] and r["pushed"] == dry["pushed"]
                               for r in dry_runs + one_runs + real_runs + real_one_runs),
            "ok": all(r["status"] == "ok" for r in dry_runs + one_runs + real_runs + real_one_runs),
            "runs": {"dry": dry_runs, "dry_one_process": one_runs, "real": real_runs,
                     "real_one_process": real_one_runs}}


def figures(workdir: Path, quick: bool, sizes: list[str] | None = None,
            repeat: int = 1) -> Figures:
    """Per size, the real sync against the dry run; ``quick``: one small size."""
    labels = ["1k"] if quick else (sizes or ["100k", "1m"])
    workdir.mkdir(parents=True, exist_ok=True)
    return {"target_ratio": TARGET,
            "sizes": [one_size(workdir, label, repeat) for label in labels]}


def table(result: Figures) -> str:
    head = ("size  invoices  dry run  real sync  ratio  verdict  1-process dry  1-process real"
            "  writing")
    lines = [head + "  cpu dry / real  store"]
    for s in result["sizes"]:
        verdict = "met" if s["ratio"] <= result["target_ratio"] else "missed"
        lines.append(f"{s['size']:>4}  {s['invoices']:>8,}  {s['dry_seconds']:6.2f} s  "
                     f"{s['real_seconds']:7.2f} s  {s['ratio']:4.2f}×  {verdict:7}  "
                     f"{s['dry_one_process_seconds']:11.2f} s  "
                     f"{s['real_one_process_seconds']:12.2f} s  {s['writing_seconds']:5.2f} s  "
                     f"{s['dry_cpu_seconds']:6.1f} / {s['real_cpu_seconds']:.1f} s  "
                     f"{s['store_mb']:.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="invoice counts, e.g. 10k,100k,1m")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs of each")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--quick", action="store_true", help="one small size (a smoke run)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    result = figures(args.workdir, args.quick, args.sizes.split(","), args.repeat)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
