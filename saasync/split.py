"""A first sync of an export into the local store, split over the machine's cores.

A real sync is one writer: the state and the store change in order, customer by
customer. Most of its time is not the writing but the work before it (decoding,
validating, the rules, the diff, the documents and their hashes), all in one Python
process on one core. When nothing is there yet (the state knows nothing of the
connection, the store's data source holds nothing), the customers can be split as a dry
run splits them: each of ``count`` forked processes runs the ordinary engine over its
share of the customers (``partition_of``), writing into a state and a store of its own in
a scratch folder beside the state file. Once every part went through, the parent adds
the parts' stores into the store and then their states into the state, each in one
commit, in SQL (``saasync.destinations.local.merge``, ``StateStore.absorb``), and the
reports add up as a split dry run's do.

What a crash leaves stays safe: before the merge, nothing of the run is in the store or
the state, and the next run starts again; after the store's commit and before the
state's, the store holds what the state does not know, so the next run is not a first
sync any more and takes the ordinary path, which re-sends what it finds unknown (an
invoice the store holds with the same content is accepted as it is). A part that fails
fails the run before anything is merged. A stopped run merges what its parts finished
and leaves the cursor, as a stopped run does.

Only for connectors that read their share cheaply (``rereadable`` and ``Partitionable``:
the files connector); an API source would be read once per process.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from saasync.connector import Connector, Partitionable
from saasync.destinations.base import Destination
from saasync.destinations.local.merge import merge_parts, source_is_empty
from saasync.destinations.local.store import LocalStore
from saasync.engine import Engine
from saasync.run_report import RunReport
from saasync.sending import ProgressFn
from saasync.sqlite_files import without_durability
from saasync.state import StateStore

log = structlog.get_logger("saasync.split")

# (index, count, its state, its store, progress, should_stop) -> the part's engine
PartEngine = Callable[[int, int, StateStore, LocalStore, ProgressFn, Callable[[], bool]], Engine]


def scratch_prefix(connection: str) -> str:
    """The parts' folder beside the state file: one connection's, whatever its name."""
    return f".saasync-split-{hashlib.sha256(connection.encode()).hexdigest()[:12]}-"


def _merge_store(path: Path, data_source_id: int, parts: list[Path]) -> None:
    """The parts' stores into the store at ``path``, on a connection of this thread's own."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA cache_size = -32768")  # as the store opens itself
        merge_parts(conn, data_source_id, parts)
    finally:
        conn.close()


def split_count(requested: int | None, connector: Connector, state: StateStore, name: str,
                destination: Destination, data_source: str) -> int:
    """How many processes a real run uses: more than one only for a first sync of a
    partitionable export into the local store (see the module's doc)."""
    if requested is not None and requested <= 1:
        return 1
    if not (isinstance(connector, Partitionable) and getattr(connector, "rereadable", False)
            and isinstance(destination, LocalStore)):
        if requested is not None:
            log.info("this run writes in one process: --workers splits only a first sync of "
                     "an export into the local store", connection=name)
        return 1
    if not (state.knows_nothing_of(name)
            and source_is_empty(destination.db.conn, data_source)):
        if requested is not None:
            log.info("this run writes in one process: the state or the store already holds "
                     "this connection's data (--workers splits only a first sync)",
                     connection=name)
        return 1
    from saasync.parallel import auto_workers, fork_refusal

    refusal = fork_refusal()
    if refusal is not None:
        if requested is not None:
            log.info("this run writes in one process: " + refusal, connection=name)
        return 1
    return auto_workers() if requested is None else requested


def run_split(count: int, *, name: str, mode: str, state: StateStore, state_path: Path,
              store: LocalStore, data_source: str, part_engine: PartEngine,
              run: Callable[[Engine], RunReport], progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> RunReport:
    """Run the parts, then merge them (see the module's doc); the run is recorded in the
    state like any other."""
    from saasync.parallel import run_partitioned

    started = time.monotonic()
    store.ensure_data_source(data_source)
    source_row = store.db.conn.execute(
        "SELECT id, uuid, name, created_at FROM data_sources WHERE name = ?",
        [data_source]).fetchone()
    run_id = state.start_run(name, mode)
    report: RunReport | None = None
    prefix = scratch_prefix(name)
    for stale in state_path.parent.glob(prefix + "*"):  # a run killed before its merge
        shutil.rmtree(stale, ignore_errors=True)  # (we hold the connection's lock)
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=state_path.parent))
    try:
        parts = [scratch / str(index) for index in range(count)]
        for folder in parts:
            folder.mkdir()
            with LocalStore(folder / "analytics.db") as part_store:  # its data source: ours
                part_store.db.conn.execute(
                    "INSERT INTO data_sources (id, uuid, name, created_at) VALUES (?, ?, ?, ?)",
                    tuple(source_row))

        def part_run(index: int, total: int, part_progress: ProgressFn,
                     stop: Callable[[], bool]) -> RunReport:
            folder = parts[index]
            with (StateStore(folder / "state.db") as part_state,
                  LocalStore(folder / "analytics.db", data_source=data_source) as part_store):
                # scratch until merged, and thrown away if any part fails: no fsync
                without_durability(part_state.db)
                part_store.db.scratch()
                engine = part_engine(index, total, part_state, part_store, part_progress, stop)
                return run(engine)

        report = run_partitioned(count, part_run, progress=progress, should_stop=should_stop)
        parted = time.monotonic()
        # the store's merge in a thread (SQLite works without the GIL) beside the state's;
        # the state commits only once the store has: state changes follow the destination
        with ThreadPoolExecutor(1, thread_name_prefix="saasync-merge") as pool:
            merged = pool.submit(_merge_store, Path(store.path), int(source_row[0]),
                                 [folder / "analytics.db" for folder in parts])
            try:
                state.absorb(name, [folder / "state.db" for folder in parts],
                             cursors=report.status != "stopped", before_commit=merged.result)
            finally:
                merged.result()  # its error, if the state's absorb failed first
        if report.status == "ok" and (report.failed_ops or report.conflicts):
            report.status = "partial"
        report.cursor_after = state.get_cursor(name)
        report.duration_s = time.monotonic() - started
        log.info("split sync merged", connection=name, parts=count,
                 parts_seconds=round(parted - started, 2),
                 merge_seconds=round(time.monotonic() - parted, 2))
        return report
    except Exception as exc:
        if report is None:
            report = RunReport(name, mode, False)
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        state.finish_run(run_id, report.status if report is not None else "failed",
                         report.as_dict(detail=False) if report is not None else {})
        shutil.rmtree(scratch, ignore_errors=True)
