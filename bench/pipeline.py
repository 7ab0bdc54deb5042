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
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (
    FLOOR,
    ROOT,
    dataset,
    fresh,
    log,
    measured,
    parse_size,
    run_counts,
    write_config,
)

Figures = dict[str, Any]
TARGET = 5.0  # × the floor, on 2 processes
QUICK_SIZE = "2k"


def floor_runs(workdir: Path, data: Path, repeat: int) -> list[Figures]:
    out = workdir / "floor.out"
    runs = [measured([sys.executable, "-c", FLOOR, str(data)], out) for _ in range(repeat)]
    out.unlink()
    return runs


def dry_runs(workdir: Path, label: str, data: Path, repeat: int,
             workers: int | None) -> list[Figures]:
    runs = []
    for _ in range(repeat):
        config = write_config(fresh(workdir / f"pipeline-{label}-{workers or 'auto'}"), data)
        cmd = [sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json",
               "--dry-run"] + (["--workers", str(workers)] if workers else [])
        out = config.with_name("report.json")
        run = measured(cmd, out)
        counts = run_counts(out, run.pop("stderr"))
        out.unlink()
        runs.append({**run, **{key: counts.get(key) for key in
                               ("status", "balanced", "read", "pushed", "unchanged")}})
    return runs


# CPU seconds of each stage of a one-process dry run, in one fresh process: importing
# saasync, decoding every line (the floor's work), then the files connector's whole read
# (decoding, mapping, validating into the models), under the run's GC settings.
STAGES = """import json, sys, time
from decimal import Decimal
from pathlib import Path
started = time.process_time()
import saasync.cli, saasync.engine
from saasync_connectors.files.connector import FilesConnector
from saasync.connector import ConnectorContext, ReadWindow
from saasync.lean import tuned_gc
imported = time.process_time()
with tuned_gc():
    for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
        with path.open("rb") as handle:
            for raw in handle:
                text = raw.decode("utf-8")
                if text.strip():
                    json.loads(text, parse_float=Decimal)
    decoded = time.process_time()
    connector = FilesConnector({"path": sys.argv[1]}, ConnectorContext())
    for _ in connector.read(ReadWindow("incremental", None, None)):
        pass
    read = time.process_time()
print(json.dumps({"startup": imported - started, "decode": decoded - imported,
                  "read": read - decoded}))
"""


def stages(data: Path, invoices: int, dry_run_cpu: float) -> Figures:
    """µs of CPU per invoice: start-up (imports), decoding, mapping and validating (the
    connector's read less decoding), and the rest of a one-process dry run (grouping,
    rules, diff, report: its CPU time less the other three)."""
    done = subprocess.run([sys.executable, "-c", STAGES, str(data)], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    cpu = json.loads(done.stdout)
    per = 1e6 / invoices
    return {"startup": cpu["startup"] * per, "decode": cpu["decode"] * per,
            "map_and_validate": (cpu["read"] - cpu["decode"]) * per,
            "build_diff_report": (dry_run_cpu - cpu["startup"] - cpu["read"]) * per,
            "total": dry_run_cpu * per}


def size_figures(workdir: Path, label: str, repeat: int, months: int = 12,
                 seed: int = 7) -> Figures:
    data, meta = dataset(workdir, parse_size(label), months, seed)
    log(f"pipeline {label}: {meta['invoices']:,} invoices; floor, then dry runs")
    floors = floor_runs(workdir, data, repeat)
    two = dry_runs(workdir, label, data, repeat, None)
    one = dry_runs(workdir, label, data, repeat, 1)
    floor = min(r["seconds"] for r in floors)
    floor_cpu = min(r["cpu_seconds"] for r in floors)
    best2 = min(r["seconds"] for r in two)
    best1 = min(r["seconds"] for r in one)
    cpu2 = min(r["cpu_seconds"] for r in two)
    cpu1 = min(r["cpu_seconds"] for r in one)
    runs = two + one
    return {
        "size": label, "invoices": meta["invoices"], "input_mb": meta["input_mb"],
        "floor_seconds": floor, "seconds_2proc": best2, "seconds_1proc": best1,
        "ratio_2proc": best2 / floor, "ratio_1proc": best1 / floor,
        "floor_cpu_seconds": floor_cpu, "cpu_seconds_2proc": cpu2, "cpu_seconds_1proc": cpu1,
        "cpu_ratio_1proc": cpu1 / floor_cpu,
        "all_2proc_seconds": [r["seconds"] for r in two],
        "all_1proc_seconds": [r["seconds"] for r in one],
        "peak_mb_2proc": max(r["peak_mb"] for r in two),
        "peak_mb_1proc": max(r["peak_mb"] for r in one),
        "read": runs[0]["read"],
        "same_counts": all((r["read"], r["pushed"], r["unchanged"])
                           == (runs[0]["read"], runs[0]["pushed"], runs[0]["unchanged"])
                           for r in runs),
        "report_ok": all(r["status"] == "ok" and r["balanced"] for r in runs),
        "stages_us_per_invoice": stages(data, meta["invoices"], cpu1),
    }


# A one-process dry run with some of the issue #18 target 4 changes turned off (in
# process, before the run), to measure what each one is worth: --without NAME[,NAME].
WITHOUT = """import contextlib, sys
from saasync import cli, engine, lean, mirror, models
off = set(sys.argv[1].split(","))
if "one_pass" in off:  # every dry run stages what it reads, then reloads it
    engine.stream_fresh = lambda *args: None
if "gc" in off:  # the collector as Python sets it
    engine.tuned_gc = contextlib.nullcontext
if "date_cache" in off:  # every ISO date parsed again
    models._iso_utc = models._iso_utc.__wrapped__
if "customer_reads" in off:  # every invoice id read kept for the whole run
    lean.CustomerReads.add = mirror.ReadSet.add
    lean.CustomerReads.__contains__ = mirror.ReadSet.__contains__
sys.exit(cli.main(sys.argv[2:]))
"""
CHANGES = ("one_pass", "gc", "date_cache", "customer_reads")


def without(workdir: Path, label: str, names: list[str], repeat: int) -> Figures:
    """Best CPU and wall seconds of a one-process dry run with each of ``names`` turned off
    alone, and with none ("none") turned off."""
    data, _ = dataset(workdir, parse_size(label), 12, 7)
    out: Figures = {}
    for name in ["none", *names]:
        runs = []
        for _ in range(repeat):
            config = write_config(fresh(workdir / f"pipeline-{label}-without"), data)
            cmd = [sys.executable, "-c", WITHOUT, name, "sync", "--config", str(config),
                   "--json", "--dry-run", "--workers", "1"]
            runs.append(measured(cmd, config.with_name("report.json")))
        out[name] = {"cpu_seconds": min(r["cpu_seconds"] for r in runs),
                     "seconds": min(r["seconds"] for r in runs)}
        log(f"without {name}: {out[name]['cpu_seconds']:.2f} s of CPU")
    return out


def figures(workdir: Path, quick: bool, sizes: str = "100k,1m", repeat: int = 3) -> Figures:
    """Every figure at ``sizes`` (``quick``: one run at 2k invoices)."""
    workdir.mkdir(parents=True, exist_ok=True)
    labels = [QUICK_SIZE] if quick else [s.strip() for s in sizes.split(",") if s.strip()]
    return {"target_ratio": TARGET,
            "sizes": [size_figures(workdir, label, 1 if quick else repeat) for label in labels]}


def table(result: Figures) -> str:
    lines = [("size   invoices   floor s  2-proc s  ratio  1-proc s  ratio  peak MB (2p/1p)  same"
              "   CPU s floor / 2p / 1p")]
    for s in result["sizes"]:
        lines.append(
            f"{s['size']:<6} {s['invoices']:>9,} {s['floor_seconds']:>8.2f} "
            f"{s['seconds_2proc']:>9.2f} {s['ratio_2proc']:>5.1f}× {s['seconds_1proc']:>8.2f} "
            f"{s['ratio_1proc']:>5.1f}× {s['peak_mb_2proc']:>7.0f} / {s['peak_mb_1proc']:<6.0f} "
            f"{'yes' if s['same_counts'] and s['report_ok'] else 'NO':<4} "
            f"{s['floor_cpu_seconds']:>7.2f} / {s['cpu_seconds_2proc']:.2f} / "
            f"{s['cpu_seconds_1proc']:.2f}")
    for s in result["sizes"]:
        lines.append(f"{s['size']}: µs of CPU per invoice, one process: " + ", ".join(
            f"{name} {value:.1f}" for name, value in s["stages_us_per_invoice"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="invoice counts, e.g. 100k,1m")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--quick", action="store_true", help=f"one run at {QUICK_SIZE}")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--without", default=None,
                        help=f"instead: one-process runs at the first size with each of "
                        f"{', '.join(CHANGES)} turned off in turn (comma-separated, or all)")
    args = parser.parse_args(argv)
    if args.without:
        names = list(CHANGES) if args.without == "all" else args.without.split(",")
        label = QUICK_SIZE if args.quick else args.sizes.split(",")[0].strip()
        result = {"size": label, "without": without(args.workdir.resolve(), label, names,
                                                    1 if args.quick else args.repeat)}
        for name, run in result["without"].items():
            print(f"{label} one process, without {name}: {run['cpu_seconds']:.2f} s of CPU, "
                  f"{run['seconds']:.2f} s")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return
    result = figures(args.workdir.resolve(), args.quick, args.sizes, args.repeat)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
