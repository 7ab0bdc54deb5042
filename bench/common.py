"""What every benchmark shares: seeded data sets, config files, and measuring a child process
(wall time, and peak memory of its whole process tree)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from generate import customers_for, generate

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


def measured(cmd: list[str], out: Path) -> Figures:
    """Run ``cmd`` with stdout into ``out``: wall seconds, CPU seconds of the process tree
    (user + system, children included: on a shared machine wall times follow the other load,
    CPU time much less), peak memory in MB, stderr. Peak memory is the larger of the biggest
    process's peak RSS and the sampled peak of the whole tree's PSS (partitioned dry runs
    have several processes). Raises when ``cmd`` fails."""
    with out.open("wb") as stdout, out.with_suffix(".err").open("w+b") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=ROOT)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    out.with_suffix(".err").unlink()
    if code := os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{err[-3000:]}")
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_mb": max(usage.ru_maxrss / 1024, sampler.peak_mb), "stderr": err}


def measure(cmd: list[str], out: Path) -> tuple[float, float, str]:
    """``measured`` as (wall seconds, peak memory in MB, stderr)."""
    run = measured(cmd, out)
    return run["seconds"], run["peak_mb"], run["stderr"]


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


