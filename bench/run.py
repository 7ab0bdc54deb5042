"""Run every benchmark and print one table of figures against the targets.

    python bench/run.py                                   # 10k, 100k, 1M invoices; push 200 customers
    python bench/run.py --sizes 10k --push-customers 20 --json out.json
    python bench/run.py --sizes 10k,100k --incremental-size 10k --no-push

Figures and targets:
  throughput   read → rules → diff (`saasync sync --dry-run` into the local store): invoices/s,
               and wall time ÷ floor (a process that only reads and json-decodes the same
               files, as the files connector does); target ≤ 3× the floor. Both are wall times
               of a fresh process, so both include interpreter start-up.
  memory       peak RSS of that run: ≤ 300 MB, and growing far slower than the input
               (Δ peak MB ÷ Δ input MB ≤ 0.1 between the smallest and the largest size).
  incremental  a second `saasync sync` with nothing new: ≤ 2 % of the initial sync's time and
               the analytics db byte-identical; then k = 10, 100, 1000 changed invoices.
  push         `push.run` in each import mode (per_customer, bulk, and auto: the default,
               which picks one, shown as "auto→…") against `saasync serve` limited to 40
               req/s, a first sync of N customers × 12 invoices: requests per 1,000 invoices
               within 10 % of the mode's minimum, ≥ 90 % of the limit sustained
               (per_customer), no 429 after the first second; wall time in --json.

Data sets come from generate.py (seeded) and are cached in the workdir (default .bench/ at
the repository root). Progress goes to stderr, the table to stdout; --json OUT keeps it all.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from generate import customers_for, generate

LIMIT = 40.0  # the server's requests/s limit for the push benchmark
KS = (10, 100, 1000)  # changed invoices for the incremental runs (those < invoices / 10)
# The floor: read and decode every line as connectors/files/formats.py does, nothing else.
FLOOR = """import json, sys
from decimal import Decimal
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    with path.open("rb") as handle:
        for raw in handle:
            text = raw.decode("utf-8")
            if text.strip():
                json.loads(text, parse_float=Decimal)
"""
Figures = dict[str, Any]
Row = tuple[str, str, str, str]  # figure, value, target, verdict


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_size(label: str) -> int:
    text = label.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return round(float(text[:-1] if scale > 1 else text) * scale)


# -- data sets ---------------------------------------------------------------------------------
def dataset(workdir: Path, invoices: int, months: int, seed: int) -> tuple[Path, Figures]:
    """The data set of about ``invoices`` invoices, generated once and then reused."""
    source = hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:12]
    params: Figures = {"customers": customers_for(invoices, months), "months": months,
                       "seed": seed, "generator": source}
    path = workdir / f"data-{params['customers']}c-{months}m-s{seed}"
    marker = path / "bench-params.json"
    if marker.is_file():
        meta = json.loads(marker.read_text())
        if all(meta.get(key) == value for key, value in params.items()):
            return path, meta
    shutil.rmtree(path, ignore_errors=True)
    log(f"generating {params['customers']} customers × {months} months in {path}")
    count = generate(path, params["customers"], months, seed)
    size = sum(p.stat().st_size for p in path.glob("*.jsonl"))
    meta = {**params, "invoices": count, "input_mb": size / 2**20}
    marker.write_text(json.dumps(meta))  # written last: a half-made data set is never reused
    return path, meta


def write_config(run_dir: Path, data: Path) -> Path:
    state = run_dir / "state"
    config = run_dir / "config.toml"
    config.write_text(f'state = "{state / "state.db"}"\n[connections.b]\nconnector = "files"\n'
                      f'[connections.b.options]\npath = "{data}"\n[connections.b.destination]\n'
                      f'type = "local"\npath = "{state / "analytics.db"}"\n')
    return config


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# -- measuring a child process ---------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a dry run forks one process per partition)."""
    pids, at = [pid], 0
    while at < len(pids):
        try:
            children = Path(f"/proc/{pids[at]}/task/{pids[at]}/children").read_text().split()
        except OSError:
            children = []
        pids.extend(int(child) for child in children)
        at += 1
    return pids


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (a forked child's) are split, not counted twice."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the total PSS of a process tree every 50 ms; ``peak_mb`` is the highest."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.pid)))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def measure(cmd: list[str], out: Path) -> tuple[float, float, str]:
    """Run ``cmd`` with stdout into ``out``; (wall seconds, peak memory in MB, stderr).
    Peak memory is the larger of the biggest process's peak RSS and the sampled peak of the
    whole process tree's PSS (partitioned dry runs have several processes)."""
    with out.open("wb") as stdout, out.with_suffix(".err").open("w+b") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=ROOT)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    out.with_suffix(".err").unlink()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-3000:]}")
    return seconds, max(usage.ru_maxrss / 1024, sampler.peak_mb), err  # ru_maxrss: KiB on Linux


def run_counts(stdout: Path, stderr: str) -> Figures:
    """The run's counts, from its one-line "run finished" log on stderr (the stdout report
    lists every op: ~130 MB at 1M invoices), else from the stdout report."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "run finished":
                return dict(event)
    report = json.loads(stdout.read_text())
    return {"status": report.get("status"), **report.get("counts", report)}


def saasync_sync(config: Path, *, dry_run: bool, workers: int | None = None) -> Figures:
    """One ``saasync sync``; a dry run uses its default processes unless ``workers``."""
    cmd = [sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json"]
    if dry_run:
        cmd += ["--dry-run"] + (["--workers", str(workers)] if workers else [])
    out = config.with_name("report.json")
    seconds, peak_mb, err = measure(cmd, out)
    counts = run_counts(out, err)
    out.unlink()
    return {"seconds": seconds, "peak_mb": peak_mb, "status": counts.get("status"),
            "balanced": counts.get("balanced"), "read": counts.get("read"),
            "pushed": counts.get("pushed"), "unchanged": counts.get("unchanged")}


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


# -- the table ---------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def rows(figures: Figures) -> list[Row]:
    out: list[Row] = [("saasync start-up (python -m saasync --help)",
                       f"{figures['startup_seconds']:.2f} s, in every pipeline time below",
                       "-", "info")]
    for s in figures["throughput"]:
        note = "" if s["report_ok"] else " (run report not ok/balanced)"
        value = (f"{s['invoices_per_s']:,.0f} inv/s; {s['seconds']:.2f} s = "
                 f"{s['ratio_to_floor']:.1f}× floor {s['floor_seconds']:.2f} s{note}")
        out.append((f"throughput {s['size']} ({s['invoices']:,} invoices)", value,
                     "≤ 3× floor", verdict(s["ratio_to_floor"] <= 3 and s["report_ok"])))
        if "one_process_seconds" in s:
            same = "same counts" if s["same_counts"] else "COUNTS DIFFER"
            value = (f"{s['one_process_seconds']:.2f} s = "
                     f"{s['one_process_seconds'] / s['floor_seconds']:.1f}× floor, "
                     f"{s['one_process_peak_mb']:.0f} MB; {same}")
            out.append(("  the same, --workers 1", value, "-", "info"))
        value = f"{s['peak_mb']:.0f} MB (input {s['input_mb']:.1f} MB)"
        out.append((f"peak memory {s['size']}", value, "≤ 300 MB", verdict(s["peak_mb"] <= 300)))
    if m := figures["memory"]:
        value = (f"input ×{m['input_growth']:.1f}, peak ×{m['peak_growth']:.2f} "
                 f"(Δpeak/Δinput {m['delta_peak_per_delta_input']:.3f})")
        out.append((f"memory growth {m['from']} → {m['to']}", value,
                    "Δpeak/Δinput ≤ 0.1", verdict(m["delta_peak_per_delta_input"] <= 0.1)))
    if inc := figures["incremental"]:
        first, quiet = inc["initial"], inc["nothing_new"]
        value = f"{first['seconds']:.2f} s, read {first['read']:,}, pushed {first['pushed']:,}"
        out.append((f"incremental {inc['size']}: initial sync", value, "-", "info"))
        value = (f"{quiet['seconds']:.2f} s = {quiet['pct_of_initial']:.1f}% of initial, "
                 f"read {quiet['read']:,}")
        out.append(("incremental: nothing new, time", value, "≤ 2% of initial",
                    verdict(quiet["pct_of_initial"] <= 2)))
        value = (f"pushed {quiet['pushed']}, analytics db "
                 f"{'unchanged' if quiet['analytics_unchanged'] else 'CHANGED'}")
        out.append(("incremental: nothing new, writes", value, "pushed 0, db unchanged",
                    verdict(quiet["pushed"] == 0 and quiet["analytics_unchanged"])))
        base = inc["file_touched"]
        value = (f"{base['seconds']:.2f} s, read {base['read']:,} (the lookback window), "
                 f"pushed {base['pushed']}")
        out.append(("incremental: file rewritten, k=0", value, "baseline for k", "info"))
        for c in inc["changes"]:
            extra = c["read"] - base["read"]  # beyond what any re-read file gives (lookback)
            value = (f"{c['seconds']:.2f} s ({c['seconds'] - base['seconds']:+.2f} s), "
                     f"read {c['read']:,} ({extra:+,}), pushed {c['pushed']:,}")
            out.append((f"incremental: k={c['changed']} changed", value,
                        "reads/pushes grow with k, not N",
                        verdict(c["changed"] <= extra <= 2 * c["k"] and c["pushed"] <= 2 * c["k"])))
    for mode, p in figures["push"].items():
        minimum = p["minimum_per_1000_invoices"]
        over = 100 * (p["requests_per_1000_invoices"] / minimum - 1)
        value = (f"{p['requests_per_1000_invoices']:.1f} ({p['requests']:.0f} requests; "
                 f"min {minimum:.1f}: {over:+.0f}%)")
        used = p.get("import_mode", mode)
        mode = mode if used == mode else f"{mode}→{used}"
        out.append((f"push {mode}: requests/1k invoices", value, "≤ min + 10%",
                    verdict(over <= 10)))
        rate = (f"{p['requests_per_s']:.1f} req/s = {p['limit_used_pct']:.0f}% of {LIMIT:g}, "
                f"{p['seconds']:.1f} s")
        if used == "bulk":
            out.append((f"push {mode}: rate", rate, "n/a: one import + polls per 500 customers",
                        "n/a"))
        else:
            out.append((f"push {mode}: rate", rate, "≥ 90% of limit",
                        verdict(p["limit_used_pct"] >= 90)))
        out.append((f"push {mode}: 429 after 1st second", f"{p['429_after_first_second']:.0f}",
                    "0", verdict(p["429_after_first_second"] == 0)))
    return out


def table(table_rows: list[Row]) -> str:
    header: Row = ("figure", "value", "target", "verdict")
    widths = [max(len(r[i]) for r in (header, *table_rows)) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in (header, *table_rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1m", help="invoice counts, e.g. 10k,100k,1m")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="best of N floor/pipeline runs")
    parser.add_argument("--incremental-size", default=None,
                        help="default: the largest size ≤ 100k, else the smallest; none: skip")
    parser.add_argument("--push-customers", type=int, default=200)
    parser.add_argument("--no-push", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write every raw figure here")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = {label.strip(): parse_size(label) for label in args.sizes.split(",")}
    figures: Figures = {"params": {k: str(v) for k, v in vars(args).items()}, "throughput": [],
                        "memory": {}, "incremental": {}, "push": {}}
    figures["startup_seconds"] = startup(workdir)
    for label, n in sizes.items():
        data, meta = dataset(workdir, n, args.months, args.seed)
        log(f"throughput {label}: {meta['invoices']:,} invoices; floor, then dry run")
        figures["throughput"].append(throughput(workdir, label, data, meta, args.repeat))
    figures["memory"] = memory_growth(figures["throughput"])
    small = [label for label, n in sizes.items() if n <= 100_000]
    label = args.incremental_size or (max(small, key=sizes.__getitem__) if small
                                      else min(sizes, key=sizes.__getitem__))
    if label.lower() != "none":
        data, meta = dataset(workdir, parse_size(label), args.months, args.seed)
        figures["incremental"] = incremental(workdir, label, data, meta)
    if not args.no_push:
        figures["push"] = push_figures(args.push_customers)
    figures["table"] = rows(figures)
    print(table(figures["table"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
