"""The composition root: build a connection's connector and destination, and run it.

The CLI, the scheduler, the reports and the Celery tasks all come here; nothing here
knows about the command line, and nothing imports ``saasync.cli``. Optional abilities
(read-back, bulk import, partitioned reads) are asked for through the Protocols in
``saasync.connector`` and ``saasync.destinations.base``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from saasync.connector import Connector, ConnectorContext, Partitionable, load_connector_class
from saasync.console import progress_bar
from saasync.destinations.base import Baseline, BulkImporting, BulkSink, Destination, Snapshotting
from saasync.engine import Engine, ProgressFn
from saasync.errors import ConfigError
from saasync.rules.builder import RuleSettings
from saasync.run_report import Op, RunReport
from saasync.samples import BUILTIN, builtin_path
from saasync.sending import AutoBulk, ImportChoice
from saasync.settings import ConnectionSettings, Settings
from saasync.state import StateStore

if TYPE_CHECKING:  # the HTTP package (requests) loads only when a run needs it
    from saasync.destinations.local.store import LocalStore
    from saasync.http import HttpClient
    from saasync.split import PartEngine

log = structlog.get_logger("saasync.runner")

DestinationFactory = Callable[[Settings, ConnectionSettings], Destination]


def _now() -> datetime:
    return datetime.now(UTC)


def rule_settings(conn: ConnectionSettings) -> RuleSettings:
    """The rules a connection's settings ask for: the one place they are read from."""
    return RuleSettings(conn.open_invoices, conn.grace_days, conn.auto_churn_days)


# -- the connector ----------------------------------------------------------------------------
def connector_options(settings: Settings, conn: ConnectionSettings,
                      clock: Callable[[], datetime]) -> dict[str, Any]:
    """The connector's options; ``path = "builtin:NAME"`` becomes today's generated copy of
    the connector's bundled sample NAME (saasync.samples)."""
    options = dict(conn.options)
    path = options.get("path")
    if isinstance(path, str) and path.startswith(BUILTIN):
        options["path"] = builtin_path(settings, conn.connector, path, clock())
    return options


def make_connector(settings: Settings, name: str, conn: ConnectionSettings,
                   clock: Callable[[], datetime], state: StateStore | None = None) -> Any:
    """Build the connection's connector, with its token store and the user's item mappings."""
    factory = load_connector_class(conn.connector)
    context = ConnectorContext(
        base_dir=settings.base_dir, env=dict(os.environ), connection=name, tokens=state,
        item_mappings=state.item_mappings(name) if state is not None else {},
    )
    return factory(connector_options(settings, conn, clock), context)


# -- the destination --------------------------------------------------------------------------
def make_destination(settings: Settings, conn: ConnectionSettings, *,
                     http: HttpClient | None = None) -> Destination:
    """The connection's destination. ``http``: a client ChartMogul uses instead of its own
    (the Celery workers pass one paced by the account's limiter in Redis)."""
    dest = conn.destination
    if dest.type == "local":
        from saasync.destinations.local import LocalStore

        path = settings.resolve(dest.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return LocalStore(path)
    from saasync.destinations.chartmogul.destination import ChartMogulDestination

    return ChartMogulDestination(dest, os.environ, http=http)


def read_back(destination: Destination, data_source: str,
              progress: ProgressFn | None = None) -> Baseline:
    """What the destination really holds (read-only calls), for a diff against it."""
    if not isinstance(destination, Snapshotting):
        raise ConfigError(f"destination {destination.name!r} cannot be read back")
    return destination.snapshot(data_source, progress=progress)


def destination_snapshot(settings: Settings, conn: ConnectionSettings,
                         build: DestinationFactory = make_destination, *,
                         show_progress: bool = False) -> Baseline:
    """Read back what the connection's destination holds, and close it; on a terminal,
    with a bar (``show_progress``)."""
    destination = build(settings, conn)
    try:
        with progress_bar(show_progress) as progress:
            return read_back(destination, conn.destination.data_source, progress)
    finally:
        destination.close()


def bulk_sink(name: str, conn: ConnectionSettings, destination: Destination) -> BulkSink:
    """``import_mode = "bulk"``: the destination's bulk importer on the connection's data source."""
    if not isinstance(destination, BulkImporting):
        raise ConfigError(f"connections.{name}.destination.import_mode: \"bulk\" needs "
                          "type = \"chartmogul\"")
    destination.ensure_data_source(conn.destination.data_source)
    return destination.bulk_importer()


# -- bulk or per customer: the one place it is decided ----------------------------------------
def import_choice(conn: ConnectionSettings, mode: str, cursor: str | None) -> ImportChoice | None:
    """How a run sends its changes to ChartMogul (None: the local store, which has one way).

    ``import_mode = "per_customer"`` or ``"bulk"`` forces one. ``"auto"`` (the default):
    an incremental sync (the connection has a cursor) goes per customer; a backfill, or a
    first sync (no cursor yet), goes in bulk when it sends more than ``bulk_threshold``
    objects, else per customer. Objects are what a bulk import would carry as records of
    their own: plans, customers (new or changed) and new invoices, an invoice with its line
    items and transactions counting once. Invoice updates and voids, and cancellations, go
    one by one in both modes and are not counted. The count is known only while the run
    plans its changes: they are held until it passes the threshold (bulk) or the run has
    planned everything below it (per customer)."""
    dest = conn.destination
    if dest.type != "chartmogul":
        return None
    if dest.import_mode != "auto":
        return ImportChoice(dest.import_mode, f'import_mode = "{dest.import_mode}"')
    if mode == "sync" and cursor is not None:
        return ImportChoice("per_customer", "incremental sync (the connection has a cursor)")
    run = "backfill" if mode == "backfill" else "first sync (no cursor yet)"
    threshold = dest.bulk_threshold

    def decide(objects: int, final: bool) -> ImportChoice | None:
        if objects > threshold:
            return ImportChoice("bulk", f"{run} sending more than bulk_threshold = {threshold} "
                                        "objects (plans, customers, new invoices)")
        if final:
            return ImportChoice("per_customer", f"{run} sending {objects} objects, not more than "
                                                f"bulk_threshold = {threshold}")
        return None

    return ImportChoice("auto", f"{run}: bulk above bulk_threshold = {threshold} objects",
                        decide=decide)


def import_sink(name: str, conn: ConnectionSettings, destination: Destination,
                choice: ImportChoice | None) -> BulkSink | None:
    """The bulk sink a real run's ``Engine`` gets: None sends per customer; an ``AutoBulk``
    lets the run choose once it has counted its objects."""
    if choice is None or choice.mode == "per_customer":
        return None
    sink = bulk_sink(name, conn, destination)
    return AutoBulk(sink, choice) if choice.mode == "auto" else sink


def bulk_objects(report: RunReport) -> int:
    """What ``import_choice`` counts, from a (dry) run's planned changes."""
    def counted(op: Op) -> bool:
        return op.kind in ("plan", "customer") or (op.kind == "invoice" and op.action == "create")

    listed = sum(1 for op in report.ops if counted(op))
    return listed if report.ops_total <= len(report.ops) else max(listed, report.ops_total)


def show_choice(report: RunReport, choice: ImportChoice | None) -> None:
    """The run report says how the changes went (a dry run: how a real run would send them)."""
    if choice is None:
        return
    if choice.mode == "auto":  # a dry run, or a run that planned nothing to send
        choice.settle(bulk_objects(report), True)
    report.import_mode, report.import_mode_reason = choice.mode, choice.reason


# -- a run ----------------------------------------------------------------------------------
def run_connection(settings: Settings, name: str, conn: ConnectionSettings, *, mode: str,
                   dry_run: bool, since: datetime | None = None, until: datetime | None = None,
                   clock: Callable[[], datetime] = _now, show_progress: bool = False,
                   should_stop: Callable[[], bool] = lambda: False,
                   destination_factory: DestinationFactory | None = None,
                   workers: int | None = None) -> RunReport:
    """One run of one connection, under its lock (a dry run takes none). A dry run whose
    connector can partition its read is split over ``workers`` processes (default: one
    per core, see ``saasync.parallel``)."""
    build_destination = destination_factory or make_destination
    state_path = settings.resolve(settings.state)
    with StateStore(state_path, read_only=dry_run) as state:
        connector = make_connector(settings, name, conn, clock, state)
        destination = None if dry_run else build_destination(settings, conn)
        baseline, bulk = None, None
        if dry_run and conn.destination.type == "chartmogul":
            # diff against what ChartMogul really holds (read-only calls)
            baseline = destination_snapshot(settings, conn, build_destination,
                                            show_progress=show_progress)
        choice = import_choice(conn, mode, state.get_cursor(name))
        if destination is not None:
            bulk = import_sink(name, conn, destination, choice)

        def engine_for(part_state: StateStore, part_connector: Connector,
                       progress: ProgressFn | None, stop: Callable[[], bool],
                       partition: tuple[int, int] | None = None,
                       part_destination: Destination | None = None) -> Engine:
            return Engine(
                name, part_connector, part_state, part_destination or destination,
                rules=rule_settings(conn), data_source=conn.destination.data_source,
                lookback=timedelta(hours=conn.lookback_hours), clock=clock, progress=progress,
                should_stop=stop, baseline=baseline, bulk=bulk, partition=partition,
            )

        def split_part(index: int, count: int, part_state: StateStore, part_store: LocalStore,
                       progress: ProgressFn, stop: Callable[[], bool]) -> Engine:
            # the connector was built before the fork and has read nothing: each part's copy
            # reads its own share
            connector.partition(index, count)
            return engine_for(part_state, connector, progress, stop, (index, count), part_store)

        def partition_run(index: int, count: int, progress: ProgressFn | None,
                          stop: Callable[[], bool]) -> RunReport:
            with StateStore(state_path, read_only=True) as part_state:
                part_connector = make_connector(settings, name, conn, clock, part_state)
                part_connector.partition(index, count)
                engine = engine_for(part_state, part_connector, progress, stop, (index, count))
                return engine.run(mode, since, until)

        count = dry_run_workers(workers, connector) if dry_run else 1
        try:
            with progress_bar(show_progress) as progress:
                if count > 1:
                    from saasync.parallel import run_partitioned

                    report = run_partitioned(count, partition_run, progress=progress,
                                             should_stop=should_stop)
                else:
                    engine = engine_for(state, connector, progress, should_stop)
                    if dry_run:
                        report = engine.run(mode, since, until)
                    else:
                        with state.lock(name):
                            report = _real_run(engine, workers, state_path, split_part,
                                               mode, since, until, progress, should_stop)
            show_choice(report, choice)
            return report
        finally:
            if destination is not None:
                destination.close()


def _real_run(engine: Engine, workers: int | None, state_path: Path, split_part: PartEngine,
              mode: str, since: datetime | None, until: datetime | None,
              progress: ProgressFn | None, should_stop: Callable[[], bool]) -> RunReport:
    """A real run, under the connection's lock: split over processes when it is a first
    sync of an export into the local store (``saasync.split``), else the engine's own."""
    from saasync.destinations.local.store import LocalStore
    from saasync.split import run_split, split_count

    destination = engine.destination
    assert destination is not None
    count = split_count(workers, engine.connector, engine.state, engine.connection,
                        destination, engine.data_source)
    if count <= 1 or not isinstance(destination, LocalStore):
        return engine.run(mode, since, until)
    return run_split(count, name=engine.connection, mode=mode, state=engine.state,
                     state_path=state_path, store=destination, data_source=engine.data_source,
                     part_engine=split_part, run=lambda part: part.run(mode, since, until),
                     progress=progress, should_stop=should_stop)


def dry_run_workers(requested: int | None, connector: Connector) -> int:
    """How many processes a dry run uses: 1 unless the connector can partition its read."""
    if not isinstance(connector, Partitionable):
        if requested is not None and requested > 1:
            log.info("this connector reads in one process: --workers is not used",
                     connector=connector.name)
        return 1
    from saasync.parallel import auto_workers, fork_refusal

    if requested is None:
        return auto_workers()
    if requested <= 1:
        return requested
    refusal = fork_refusal()
    if refusal is not None:
        log.info("this dry run reads in one process: " + refusal, connector=connector.name)
        return 1
    return requested


def scheduled_sync(settings: Settings) -> Callable[[str, ConnectionSettings, Callable[[], bool]],
                                                   RunReport]:
    """What the scheduler runs when a connection is due: a real sync."""

    def run(name: str, conn: ConnectionSettings, should_stop: Callable[[], bool]) -> RunReport:
        return run_connection(settings, name, conn, mode="sync", dry_run=False,
                              should_stop=should_stop)

    return run
