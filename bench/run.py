"""Run every benchmark of issue #18 and print one table: each figure beside its target and beside
its value on main before that issue ("before").

    python bench/run.py                          # 10k, 100k, 1M invoices; ~40 min on 2 cores
    python bench/run.py --quick --json out.json  # every section at small sizes (the smoke test)
    python bench/run.py --sizes 100k --no-push --no-backfill --no-sources --no-readback

Sections (each a figure of issue #18, numbered by its target):
  4 dry run    `saasync sync --dry-run` of a bench/generate.py export into the local store, on 2
               processes (the default) and on 1, as a multiple of the floor (a fresh process that
               only reads and json-decodes the same files); peak memory of the process tree.
  3 store      a real `saasync sync` of the same export into an empty local store, as a multiple
               of the 2-process dry run of the same size.
  - incremental  nothing new, and k changed invoices (no target of #18; kept as a guard).
  2 push       `saasync serve` limited to 40 req/s, N customers × 12 invoices in each import
               mode; then the backfill figure: --backfill-invoices (1M) in the default mode
               (auto → bulk) measured, against per customer worked out from its measured rate.
  1 sources    bench/source_reads.py: each API connector against its local fake (page latency,
               429 above the limit), share of the rate limit reached.
  5 read-back  bench/readback.py: `explain ID`, `reconcile` and a dry run reading ChartMogul back.

Data sets come from generate.py (seeded) and are cached in the workdir (default .bench/ at
the repository root). Progress goes to stderr, the table to stdout; --json OUT keeps it all.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import logging
import math
import shutil
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import (
    FLOOR,
    Figures,
    dataset,
    fresh,
    log,
    measure,
    parse_size,
    saasync_sync,
    write_config,
)
from table import rows, table

LIMIT = 40.0  # the server's requests/s limit for the push benchmark
KS = (10, 100, 1000)  # changed invoices for the incremental runs (those < invoices / 10)


# -- the benchmarks ----------------------------------------------------------------------------
def startup(workdir: Path) -> float:
    """Best of 3 ``saasync --help``: the interpreter and import cost inside every run."""
    seconds = min(measure([sys.executable, "-m", "saasync", "--help"], workdir / "help.out")[0]
                  for _ in range(3))
    (workdir / "help.out").unlink()
    return seconds


def throughput(workdir: Path, label: str, data: Path, meta: Figures, repeat: int) -> Figures:
    floor = min(measure([sys.executable, "-c", FLOOR, str(data)], workdir / "floor.out")[0]
                for _ in range(repeat))
    (workdir / "floor.out").unlink()
    runs = [saasync_sync(write_config(fresh(workdir / f"dry-{label}"), data), dry_run=True)
            for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    single = [saasync_sync(write_config(fresh(workdir / f"dry-{label}-1"), data), dry_run=True,
                           workers=1) for _ in range(repeat)]
    one = min(single, key=lambda r: r["seconds"])
    return {"size": label, **meta, "records_read": best["read"], "seconds": best["seconds"],
            "invoices_per_s": meta["invoices"] / best["seconds"], "floor_seconds": floor,
            "ratio_to_floor": best["seconds"] / floor,
            "peak_mb": max(r["peak_mb"] for r in runs),
            "one_process_seconds": one["seconds"], "one_process_peak_mb": one["peak_mb"],
            "same_counts": all(r["read"] == best["read"] and r["pushed"] == best["pushed"]
                               for r in runs + single),
            "report_ok": all(r["status"] == "ok" and r["balanced"] for r in runs + single)}


def memory_growth(sizes: list[Figures]) -> Figures:
    if len(sizes) < 2:
        return {}
    small, large = min(sizes, key=lambda s: s["invoices"]), max(sizes, key=lambda s: s["invoices"])
    return {"from": small["size"], "to": large["size"],
            "input_growth": large["input_mb"] / small["input_mb"],
            "peak_growth": large["peak_mb"] / small["peak_mb"],
            "delta_peak_per_delta_input": (large["peak_mb"] - small["peak_mb"])
            / (large["input_mb"] - small["input_mb"])}


def change_invoices(source: Path, target: Path, k: int, stamp: str) -> int:
    """Copy invoices.jsonl, changing the amount and ``updated_at`` of k paid invoices spread
    evenly over the file, each of a different customer while there are enough customers."""
    eligible: list[int] = []  # lines of paid, undiscounted, non-zero invoices
    firsts: list[int] = []  # the first of those of each customer
    customers: set[str] = set()
    with source.open() as handle:
        for number, line in enumerate(handle):
            inv = json.loads(line)
            if (inv["status"] == "paid" and "discount_amount" not in inv
                    and Decimal(inv["lines"][0]["amount"]) > 0):
                eligible.append(number)
                if inv["customer_external_id"] not in customers:
                    customers.add(inv["customer_external_id"])
                    firsts.append(number)
    pool = firsts if k <= len(firsts) else eligible
    chosen = {pool[i * len(pool) // k] for i in range(min(k, len(pool)))}
    with source.open() as handle, target.open("w") as out:
        for number, line in enumerate(handle):
            if number in chosen:
                inv = json.loads(line)
                inv["lines"][0]["amount"] = str(Decimal(inv["lines"][0]["amount"]) + 1)
                inv["updated_at"] = stamp
                line = json.dumps(inv, separators=(",", ":")) + "\n"
            out.write(line)
    return len(chosen)


def analytics_digest(state: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(state.glob("analytics.db*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def incremental(workdir: Path, label: str, source: Path, meta: Figures) -> Figures:
    """Initial sync, a run with nothing new, then runs with k changed invoices, each k from a
    copy of the state as the initial sync left it."""
    run_dir = fresh(workdir / f"incremental-{label}")
    data = run_dir / "data"
    shutil.copytree(source, data)
    config = write_config(run_dir, data)
    state, snapshot = run_dir / "state", run_dir / "state-after-initial"
    log(f"incremental {label}: initial sync")
    initial = saasync_sync(config, dry_run=False)
    shutil.copytree(state, snapshot)
    before = analytics_digest(state)
    log(f"incremental {label}: sync with nothing new")
    quiet = saasync_sync(config, dry_run=False)
    quiet["analytics_unchanged"] = analytics_digest(state) == before
    quiet["pct_of_initial"] = 100 * quiet["seconds"] / initial["seconds"]
    # A changed file is read again in full (the fingerprint differs), and an incremental run
    # re-reads its lookback window: k = 0 (a blank line appended) is the baseline for k > 0.
    shutil.rmtree(state)
    shutil.copytree(snapshot, state)
    with (data / "invoices.jsonl").open("a") as handle:
        handle.write("\n")
    log(f"incremental {label}: sync after the file changed with no new record (k = 0)")
    touched = saasync_sync(config, dry_run=False)
    changes = []
    for k in (k for k in KS if k < meta["invoices"] / 10):
        shutil.rmtree(state)
        shutil.copytree(snapshot, state)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # after every cursor
        changed = change_invoices(source / "invoices.jsonl", data / "invoices.jsonl", k, stamp)
        log(f"incremental {label}: sync with {changed} changed invoices")
        changes.append({"k": k, "changed": changed, **saasync_sync(config, dry_run=False)})
    return {"size": label, "invoices": meta["invoices"], "initial": initial,
            "nothing_new": quiet, "file_touched": touched, "changes": changes}


def push_minimum(mode: str, customers: int, invoices: float) -> float:
    """Fewest requests per 1,000 invoices the mode allows, from an empty account.

    Both modes find-or-create the data source: GET + POST = 2.
    per_customer: find-or-create the one plan (2), then per customer one POST /customers and
      one POST of all its 12 invoices: 4 + 2·C (→ 166.7 per 1k invoices for large C).
    bulk: plans, customers, invoices and transactions travel in json_imports of at most
      BulkImporter's max_customers (500) customers each (the 4.5 MB cap is not reached with
      push.py's data); each import is asynchronous: one POST + at least one GET poll: 2 + 2·B.
    """
    if mode == "per_customer":
        return 1000 * (4 + 2 * customers) / invoices
    from saasync.destinations.chartmogul.bulk import BulkImporter

    per_batch = int(inspect.signature(BulkImporter).parameters["max_customers"].default)
    return 1000 * (2 + 2 * math.ceil(customers / per_batch)) / invoices


def push_figures(customers: int) -> Figures:
    import push
    import structlog

    from saasync.logs import configure_logging

    configure_logging(json_logs=False)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    figures = {}
    for mode in ("per_customer", "bulk", "auto"):
        log(f"push: {mode}, {customers} customers × 12 invoices, server limit {LIMIT:g} req/s")
        result = push.run(mode, customers, LIMIT, 0.95 * LIMIT)
        used = result["import_mode"]  # what auto chose
        result["minimum_per_1000_invoices"] = push_minimum(used, customers, result["invoices"])
        figures[mode] = result
    return figures

def real_sync(workdir: Path, label: str, data: Path, dry: Figures) -> Figures:
    """A real sync into an empty local store, against the 2-process dry run of ``dry``."""
    log(f"store {label}: a real sync into an empty local store")
    run = saasync_sync(write_config(fresh(workdir / f"real-{label}"), data), dry_run=False)
    return {"size": label, "invoices": dry["invoices"], **run,
            "dry_run_seconds": dry["seconds"], "ratio_to_dry_run": run["seconds"] / dry["seconds"],
            "ratio_to_one_process_dry_run": run["seconds"] / dry["one_process_seconds"],
            "same_counts": run["read"] == dry["records_read"],
            "report_ok": run["status"] == "ok" and bool(run["balanced"])}


def backfill(invoices: int, per_customer: Figures | None) -> Figures:
    """The backfill of ``invoices`` into ``saasync serve`` in the default import mode, measured,
    and per customer worked out from the per-customer push's measured request rate (at 40
    req/s a 1M-invoice backfill per customer takes over an hour: not worth running)."""
    import push

    customers = math.ceil(invoices / 12)
    log(f"backfill: {customers:,} customers × 12 invoices, default import mode")
    measured = push.run("auto", customers, LIMIT, 0.95 * LIMIT)
    out: Figures = {"customers": customers, "measured": measured}
    if per_customer:
        requests = 4 + 2 * customers  # push_minimum's per_customer count, which it reaches
        out["per_customer_requests"] = requests
        out["per_customer_seconds"] = requests / per_customer["requests_per_s"]
        out["speed_up"] = out["per_customer_seconds"] / measured["seconds"]
    return out


def optional_section(name: str, workdir: Path, quick: bool) -> Figures:
    """``figures(workdir, quick)`` of the benchmark module ``bench/<name>.py``."""
    module = importlib.import_module(name)
    log(f"{name}: running")
    return dict(module.figures(workdir / name, quick))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="invoice counts (default 10k,100k,1m)")
    parser.add_argument("--quick", action="store_true",
                        help="every section at small sizes (1k invoices, 5 customers, ...)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="best of N floor/pipeline runs")
    parser.add_argument("--incremental-size", default=None,
                        help="default: the largest size ≤ 100k, else the smallest; none: skip")
    parser.add_argument("--push-customers", type=int, default=None, help="default 200")
    parser.add_argument("--backfill-invoices", default=None, help="default 1m")
    parser.add_argument("--json", type=Path, default=None, help="write every raw figure here")
    for section in ("push", "backfill", "store", "sources", "readback"):
        parser.add_argument(f"--no-{section}", action="store_true", help=f"skip {section}")
    args = parser.parse_args(argv)
    quick = args.quick
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    labels = args.sizes or ("1k" if quick else "10k,100k,1m")
    sizes = {label.strip(): parse_size(label) for label in labels.split(",")}
    figures: Figures = {"params": {k: str(v) for k, v in vars(args).items()}, "throughput": [],
                        "memory": {}, "store": [], "incremental": {}, "push": {},
                        "backfill": {}, "sources": {}, "readback": {}}
    figures["startup_seconds"] = startup(workdir)
    for label, n in sizes.items():
        data, meta = dataset(workdir, n, args.months, args.seed)
        log(f"throughput {label}: {meta['invoices']:,} invoices; floor, then dry run")
        dry = throughput(workdir, label, data, meta, args.repeat)
        figures["throughput"].append(dry)
        if not args.no_store:
            figures["store"].append(real_sync(workdir, label, data, dry))
    figures["memory"] = memory_growth(figures["throughput"])
    small = [label for label, n in sizes.items() if n <= 100_000]
    label = args.incremental_size or (max(small, key=sizes.__getitem__) if small
                                      else min(sizes, key=sizes.__getitem__))
    if label.lower() != "none":
        data, meta = dataset(workdir, parse_size(label), args.months, args.seed)
        figures["incremental"] = incremental(workdir, label, data, meta)
    if not args.no_push:
        figures["push"] = push_figures(args.push_customers or (5 if quick else 200))
    if not args.no_backfill:
        invoices = parse_size(args.backfill_invoices or ("1k" if quick else "1m"))
        figures["backfill"] = backfill(invoices, figures["push"].get("per_customer"))
    for section in ("sources", "readback"):
        if not getattr(args, f"no_{section}"):
            figures[section] = optional_section(
                {"sources": "source_reads", "readback": "readback"}[section], workdir, quick)
    figures["table"] = rows(figures)
    print(table(figures["table"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
