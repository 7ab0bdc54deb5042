"""Benchmark: what `saasync explain ID` and `saasync reconcile` cost against ChartMogul.

Syncs a data set into `saasync serve` (no limit while syncing), then serves the same store
with ChartMogul's limits (40 requests/s, 20 in flight) and runs each report in-process,
counting every HTTP request the client sends and the wall time (source read included).

    python bench/readback.py                       # the bundled sample
    python bench/readback.py --invoices 10k        # also a bench/generate.py data set
    python bench/readback.py --invoices 10k --latency-ms 0,100 --json out.json
    python bench/readback.py --quick               # the sample at 0 ms only (smoke test)

``share`` is the requests sent per second of the whole command over ChartMogul's 40/s;
``read_back`` is the same for the whole-account read alone (``read_state``: reconcile and
dry runs), without the source read and the comparison around it.

The sample is judged --at 2026-11-15 (connectors/files/sample/SCENARIOS.md); explain tells
one subscription of the sample (``--id``), or of the generated set its first customer's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Self

import requests
import structlog

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from generate import customers_for, generate

from saasync.cli import main as saasync
from saasync.destinations.chartmogul import destination as cm_destination
from saasync.destinations.chartmogul import readback as cm_readback
from saasync.server.app import make_server
from saasync.server.faults import FaultConfig
from saasync_connectors.files.sample.writers import generate as generate_sample

KEY_ENV = "SAASYNC_BENCH_CHARTMOGUL_KEY"
KEY = "bench"
SAMPLE_END = date(2026, 11, 1)  # the month of the frozen copy tests/fixtures/sample_data
AT = "2026-11-15"
SAMPLE_ID = "sub_0173"
LIMIT = 40  # ChartMogul's requests per second
READ_STATE = "read_state"


class Counter:
    """Counts every HTTP request ``requests`` sends in this process (from any thread), and
    the 429s among the answers."""

    def __init__(self) -> None:
        self.sent = 0
        self.throttled = 0
        self._lock = threading.Lock()
        self._send = requests.Session.send

    def __enter__(self) -> Self:
        counter = self

        def send(session: requests.Session, request: requests.PreparedRequest,
                 **kw: Any) -> requests.Response:
            response = counter._send(session, request, **kw)
            with counter._lock:
                counter.sent += 1
                counter.throttled += response.status_code == 429
            return response

        requests.Session.send = send  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        requests.Session.send = self._send  # type: ignore[method-assign]


class ReadBack:
    """Times every whole-account read (``read_state``) and counts the requests it sent."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.requests = 0
        self.seconds = 0.0
        self._real = cm_readback.read_state

    def __enter__(self) -> Self:
        def timed(*args: Any, **kw: Any) -> Any:
            sent, started = self.counter.sent, time.monotonic()
            try:
                return self._real(*args, **kw)
            finally:
                self.seconds += time.monotonic() - started
                self.requests += self.counter.sent - sent

        for module in (cm_readback, cm_destination):  # the names it is called by
            setattr(module, READ_STATE, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for module in (cm_readback, cm_destination):
            setattr(module, READ_STATE, self._real)


def share(requests_sent: int, seconds: float) -> float:
    """Requests per second as a share of ChartMogul's limit, in per cent."""
    return round(100 * requests_sent / seconds / LIMIT, 1) if seconds > 0 else 0.0


def write_config(folder: Path, data: Path, url: str, rate: float | None = None) -> Path:
    config = folder / f"saasync-{'sync' if rate else 'read'}.toml"
    pace = f"requests_per_second = {rate}\nmax_concurrency = 20\n" if rate else ""
    config.write_text(f"""
state = "state/state.db"

[connections.bench]
connector = "files"

[connections.bench.options]
path = "{data.as_posix()}"

[connections.bench.destination]
type = "chartmogul"
api_key_env = "{KEY_ENV}"
data_source = "bench"
base_url = "{url}"
{pace}""", encoding="utf-8")
    return config


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = saasync(list(args))
    return code, out.getvalue()


@contextlib.contextmanager
def synced(data: Path, workdir: Path, latency_ms: int = 0) -> Iterator[Path]:
    """A config on ``data`` whose ChartMogul (``saasync serve``, limited like ChartMogul and
    answering ``latency_ms`` late, as over the internet) holds one full sync of it."""
    os.environ[KEY_ENV] = KEY
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "account.db"
    with make_server(db, api_key=KEY, rate_limit=0, max_concurrency=0) as server:
        config = write_config(workdir, data, server.url, rate=5000.0)
        code, _ = cli("sync", "--config", str(config))
        if code not in (0, 5):  # 5: some records quarantined (the sample has a few)
            raise SystemExit(f"sync failed with exit status {code}")
    late = FaultConfig(p_slow=1.0, slow_ms=latency_ms) if latency_ms else FaultConfig()
    with make_server(db, api_key=KEY, rate_limit=40, max_concurrency=20, faults=late) as server:
        yield write_config(workdir, data, server.url)


def measure(*args: str) -> dict[str, Any]:
    with Counter() as counter, ReadBack(counter) as read:
        started = time.monotonic()
        code, out = cli(*args)
        seconds = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"saasync {' '.join(args)}: exit status {code}")
    if out.lstrip().startswith("{"):  # a run report: its duration differs run to run
        doc = json.loads(out)
        doc.pop("duration_s", None)
        out = json.dumps(doc, sort_keys=True)
    figures: dict[str, Any] = {
        "requests": counter.sent, "throttled": counter.throttled, "seconds": round(seconds, 2),
        "share": share(counter.sent, seconds),
        "output_sha": hashlib.sha256(out.encode()).hexdigest()[:12]}
    if read.seconds:
        figures["read_back"] = {"requests": read.requests, "seconds": round(read.seconds, 2),
                                "share": share(read.requests, read.seconds)}
    return figures


def bench(label: str, data: Path, ident: str, workdir: Path,
          latency_ms: int) -> dict[str, Any]:
    with synced(data, workdir, latency_ms) as config:
        common = ("--config", str(config), "--at", AT)
        return {
            "data": label, "latency_ms": latency_ms,
            "explain": measure("explain", ident, *common),
            "reconcile": measure("reconcile", *common, "--json"),
            "sync_dry_run": measure("sync", "--dry-run", "--json", "--config", str(config)),
        }


def first_customer(data: Path) -> str:
    with (data / "customers.jsonl").open(encoding="utf-8") as handle:
        return str(json.loads(handle.readline())["external_id"])


def data_sets(root: Path, invoices: str | None, months: int,
              ident: str) -> list[tuple[str, Path, str]]:
    """The sample (generated into ``root``), and a generated set of about ``invoices``."""
    sample = root / "sample" / "data"
    generate_sample(sample, end=SAMPLE_END)
    sets = [("sample", sample, ident)]
    if invoices:
        scale = {"k": 1_000, "m": 1_000_000}.get(invoices[-1:].lower(), 1)
        wanted = round(float(invoices.rstrip("kKmM")) * scale)
        gen = root / "generated" / "data"
        gen.mkdir(parents=True, exist_ok=True)
        generate(gen, customers_for(wanted, months), months)
        sets.append((f"{invoices} invoices", gen, first_customer(gen)))
    return sets


def run(root: Path, sets: list[tuple[str, Path, str]], latencies: list[int]) -> dict[str, Any]:
    rows = []
    for n, (label, data, ident) in enumerate(sets):
        for latency in latencies:
            rows.append(bench(label, data, ident, root / f"run-{n}-{latency}", latency))
    return {"rate_limit": LIMIT, "rows": rows}


def figures(workdir: Path, quick: bool) -> dict[str, Any]:
    """The sample at 0 ms (``quick``), else the sample and 10k invoices at 0 and 100 ms."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sets = data_sets(workdir, None if quick else "10k", 12, SAMPLE_ID)
    return run(workdir, sets, [0] if quick else [0, 100])


def show(found: dict[str, Any]) -> None:
    print(f"{'data':<16}{'latency':>8}  {'command':<14}{'requests':>9}{'429s':>6}{'seconds':>9}"
          f"{'share':>7}{'read-back s':>13}{'share':>7}")
    for row in found["rows"]:
        for what in ("explain", "reconcile", "sync_dry_run"):
            r = row[what]
            read = r.get("read_back")
            back = f"{read['seconds']:>13.2f}{read['share']:>6.1f}%" if read else ""
            print(f"{row['data']:<16}{row['latency_ms']:>6}ms  {what:<14}{r['requests']:>9}"
                  f"{r['throttled']:>6}{r['seconds']:>9.2f}{r['share']:>6.1f}%{back}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", help="also a generated set of about N invoices (10k, 100k)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--id", default=SAMPLE_ID, help="the sample id explain tells")
    parser.add_argument("--latency-ms", default="0",
                        help="the server answers this late (comma-separated: one pass each)")
    parser.add_argument("--quick", action="store_true", help="figures(quick=True): the sample "
                        "at 0 ms; --invoices, --latency-ms and --id are not used")
    parser.add_argument("--workdir", help="work here (kept) instead of a temporary folder")
    parser.add_argument("--json", dest="json_out", help="write the figures here too")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with contextlib.ExitStack() as stack:
        root = Path(args.workdir) if args.workdir else Path(
            stack.enter_context(tempfile.TemporaryDirectory()))
        if args.quick:
            found = figures(root, quick=True)
        else:
            sets = data_sets(root, args.invoices, args.months, args.id)
            found = run(root, sets, [int(ms) for ms in args.latency_ms.split(",")])
    show(found)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(found, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
