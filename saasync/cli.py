"""The ``saasync`` command line: wiring only; each command returns an exit status.

Exit statuses (also in the README):
  0 ok · 1 unexpected error · 2 configuration or usage error · 3 credentials refused ·
  4 another run of the connection holds the lock · 5 the run finished but the destination
  refused some records (see ``saasync review``) · 6 issues found (``audit --fail-on-issues``,
  ``status --check``) · 7 the source changed while it was read (nothing sent; run again)
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any

import click
import structlog
from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from saasync import __version__
from saasync.connector import ConnectorContext, ItemMapping, load_connector_class
from saasync.destinations.base import Destination
from saasync.diff import render_report, report_json
from saasync.engine import Engine
from saasync.errors import (
    AuthError,
    ConfigError,
    LockedError,
    SaasyncError,
    SourceChangedError,
)
from saasync.logs import configure_logging
from saasync.report import RunReport
from saasync.rules.builder import RuleSettings
from saasync.settings import ConnectionSettings, Settings, load_settings
from saasync.state import StateStore

log = structlog.get_logger("saasync.cli")


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONFIG = 2
    AUTH = 3
    LOCKED = 4
    PARTIAL = 5
    ISSUES_FOUND = 6  # audit --fail-on-issues, status --check
    SOURCE_CHANGED = 7  # an export file was rewritten while the run read it


def _console() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = dateparser.isoparse(value)
    except ValueError:
        raise ConfigError(f"{option}: not a date: {value!r} (expected YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- wiring ---------------------------------------------------------------------------------
def _connector_options(settings: Settings, conn: ConnectionSettings, clock: Callable[[], datetime]) -> dict[str, Any]:
    options = dict(conn.options)
    if options.get("path") == "builtin:sample":
        from saasync.sample import generate

        now = clock()
        today = now.date()
        end = date(today.year, today.month, 1)
        # the export is "taken" at the start of today, so statuses look as they would live
        as_of = datetime(today.year, today.month, today.day, tzinfo=UTC)
        target = settings.resolve(".saasync/sample") / today.isoformat()
        if not (target / "invoices.csv").exists():
            generate(target, end=end, as_of=as_of)
        options["path"] = str(target)
    return options


def make_connector(settings: Settings, name: str, conn: ConnectionSettings,
                   clock: Callable[[], datetime], state: StateStore | None = None) -> Any:
    """Build the connection's connector, with its token store and the user's item mappings."""
    factory = load_connector_class(conn.connector)
    context = ConnectorContext(
        base_dir=settings.base_dir, env=dict(os.environ), connection=name, tokens=state,
        item_mappings=state.item_mappings(name) if state is not None else {},
    )
    return factory(_connector_options(settings, conn, clock), context)


def make_destination(settings: Settings, conn: ConnectionSettings) -> Destination:
    dest = conn.destination
    if dest.type == "local":
        from saasync.destinations.local import LocalStore

        path = settings.resolve(dest.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return LocalStore(path)
    from saasync.destinations.chartmogul import ChartMogulDestination

    return ChartMogulDestination(dest, os.environ)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(TextColumn("building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("customers", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_connection(settings: Settings, name: str, conn: ConnectionSettings, *, mode: str,
                   dry_run: bool, since: datetime | None = None, until: datetime | None = None,
                   clock: Callable[[], datetime] = _now, show_progress: bool = False,
                   should_stop: Callable[[], bool] = lambda: False,
                   destination_factory: Callable[[Settings, ConnectionSettings], Destination] | None = None,
                   workers: int | None = None) -> RunReport:
    """One run of one connection. A dry run whose connector can partition its read is split
    over ``workers`` processes (default: one per core, see ``saasync.parallel``)."""
    build_destination = destination_factory or make_destination
    state_path = settings.resolve(settings.state)
    with StateStore(state_path, read_only=dry_run) as state:
        connector = make_connector(settings, name, conn, clock, state)
        destination = None if dry_run else build_destination(settings, conn)
        baseline, bulk = None, None
        if dry_run and conn.destination.type == "chartmogul":
            # diff against what ChartMogul really holds (read-only calls)
            with build_destination(settings, conn) as reader:  # type: ignore[attr-defined]
                baseline = reader.snapshot(conn.destination.data_source)
        if destination is not None and conn.destination.import_mode == "bulk":
            if not hasattr(destination, "bulk_importer"):
                raise ConfigError(f"connections.{name}.destination.import_mode: \"bulk\" needs "
                                  "type = \"chartmogul\"")
            destination.ensure_data_source(conn.destination.data_source)
            bulk = destination.bulk_importer()
        def engine_for(part_state: StateStore, part_connector: Any, progress: Any,
                       stop: Callable[[], bool], partition: tuple[int, int] | None = None) -> Engine:
            return Engine(
                name, part_connector, part_state, destination,
                rules=RuleSettings(conn.open_invoices, conn.grace_days),
                data_source=conn.destination.data_source,
                lookback=timedelta(hours=conn.lookback_hours), clock=clock, progress=progress,
                should_stop=stop, baseline=baseline, bulk=bulk, partition=partition,
            )

        def partition_run(index: int, count: int, progress: Any, stop: Callable[[], bool]) -> RunReport:
            with StateStore(state_path, read_only=True) as part_state:
                part_connector = make_connector(settings, name, conn, clock, part_state)
                part_connector.partition(index, count)
                engine = engine_for(part_state, part_connector, progress, stop, (index, count))
                return engine.run(mode, since, until)

        count = _dry_run_workers(workers, connector) if dry_run else 1
        try:
            with _progress(show_progress) as progress:
                if count > 1:
                    from saasync.parallel import run_partitioned

                    return run_partitioned(count, partition_run, progress=progress,
                                           should_stop=should_stop)
                engine = engine_for(state, connector, progress, should_stop)
                if dry_run:
                    return engine.run(mode, since, until)
                with state.lock(name):
                    return engine.run(mode, since, until)
        finally:
            if destination is not None:
                destination.close()


def _dry_run_workers(requested: int | None, connector: Any) -> int:
    """How many processes a dry run uses: 1 unless the connector can partition its read."""
    if not callable(getattr(connector, "partition", None)):
        if requested is not None and requested > 1:
            log.info("this connector reads in one process: --workers is not used",
                     connector=getattr(connector, "name", type(connector).__name__))
        return 1
    from saasync.parallel import auto_workers, can_fork

    if requested is None:
        return auto_workers()
    return requested if requested <= 1 or can_fork() else 1


# -- commands -------------------------------------------------------------------------------
config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="TOML config file (default: the embedded sample setup).")
connection_option = click.option("--connection", "connection", help="Connection name in the config.")
workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Processes for a dry run, each over a share of the customers (default: one per "
         "core, up to 4, when the connector can split its read; the files connector can).")


class LazyGroup(click.Group):
    """Commands that live with their feature (reports, the server, Celery) are imported
    when asked for, so ``saasync sync`` does not pay for loading them."""

    LAZY: dict[str, str] = {
        "reconcile": "saasync.reports.commands:reconcile",
        "explain": "saasync.reports.commands:explain",
        "audit": "saasync.reports.commands:audit",
        "serve": "saasync.server.command:serve",
        "celery": "saasync.distributed.command:celery_group",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, _, attr = self.LAZY[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saasync")
@click.option("--log-json", is_flag=True, help="Log as JSON lines (default when stderr is not a terminal).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug events (every request, every decision).")
def cli(log_json: bool, verbose: bool) -> None:
    """saasync keeps subscription analytics true to billing.

    Every record read is pushed, unchanged, skipped with a reason code, or quarantined
    for review; the counts always add up.
    """
    configure_logging(json_logs=True if log_json else None, verbose=verbose)


def _sync_like(mode: str, config_path: str | None, connection: str | None, dry_run: bool,
               as_json: bool, since: str | None = None, until: str | None = None,
               workers: int | None = None) -> int:
    settings = load_settings(config_path)
    name, conn = settings.connection(connection)
    start = _parse_date(since, "--since")
    end = _parse_date(until, "--until")
    if start and end and end <= start:
        raise ConfigError("--until must be after --since")
    if workers is not None and not dry_run:
        raise ConfigError("--workers applies to a dry run (add --dry-run); a real run uses one process")
    report = run_connection(settings, name, conn, mode=mode, dry_run=dry_run, since=start,
                            until=end, show_progress=sys.stdout.isatty() and not as_json,
                            workers=workers)
    if as_json:
        click.echo(report_json(report))
    else:
        render_report(report, _console())
    return int(ExitStatus.PARTIAL if report.failed_ops or report.conflicts else ExitStatus.OK)


@cli.command()
@config_option
@connection_option
@click.option("--dry-run", is_flag=True, help="Show the diff of what would change; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or diff) as JSON.")
@workers_option
def sync(config_path: str | None, connection: str | None, dry_run: bool, as_json: bool,
         workers: int | None) -> int:
    """Incremental sync from the stored cursor (minus the lookback).

    The cursor moves only after the destination accepted the data.
    """
    return _sync_like("sync", config_path, connection, dry_run, as_json, workers=workers)


@cli.command()
@config_option
@connection_option
@click.option("--since", required=True, help="First invoice date to include (YYYY-MM-DD, inclusive).")
@click.option("--until", help="Invoice date to stop before (YYYY-MM-DD, exclusive; default: now).")
@click.option("--dry-run", is_flag=True, help="Show the diff of what would change; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or diff) as JSON.")
@workers_option
def backfill(config_path: str | None, connection: str | None, since: str, until: str | None,
             dry_run: bool, as_json: bool, workers: int | None) -> int:
    """One-off sync of invoices issued in [--since, --until). Never moves the cursor."""
    return _sync_like("backfill", config_path, connection, dry_run, as_json, since, until, workers)


@cli.command()
@config_option
@connection_option
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(config_path: str | None, connection: str | None, limit: int, as_json: bool) -> int:
    """Run history: when, what mode, how it ended, and its counts."""
    settings = load_settings(config_path)
    with StateStore(settings.resolve(settings.state), read_only=True) as state:
        rows = state.runs(connection, limit)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return 0
    table = Table(title="Runs (newest first)", show_edge=False)
    for col in ("id", "connection", "mode", "started", "status", "read", "pushed", "unchanged",
                "skipped", "quarantined"):
        table.add_column(col)
    for r in rows:
        c = (r.report or {}).get("counts", {})
        table.add_row(str(r.id), r.connection, r.mode, r.started_at[:19], r.status,
                      str(c.get("read", "")), str(c.get("pushed", "")), str(c.get("unchanged", "")),
                      str(sum(c.get("skipped", {}).values())), str(sum(c.get("quarantined", {}).values())))
    _console().print(table)
    return 0


@cli.group(invoke_without_command=True)
@config_option
@connection_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def review(ctx: click.Context, config_path: str | None, connection: str | None, as_json: bool) -> int:
    """The review queue: quarantined records, with the field and the reason.

    `saasync review map ITEM ...` tells saasync how to classify an item it could not
    (UNMAPPED_ITEM); the next sync re-reads the invoices that were held for it.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    settings = load_settings(config_path)
    with StateStore(settings.resolve(settings.state), read_only=True) as state:
        items = state.review_items(connection)
    if as_json:
        click.echo(json.dumps([i.__dict__ for i in items], indent=2, default=str))
        return 0
    table = Table(title=f"Review queue: {len(items)} record(s)", show_edge=False)
    for col in ("reason", "record", "where", "field", "message"):
        table.add_column(col, overflow="fold")
    for i in items:
        table.add_row(i.reason, f"{i.kind} {i.external_id or ''}".strip(), i.location or "",
                      i.field or "", i.message)
    _console().print(table)
    return 0


@cli.command()
@config_option
@connection_option
@click.option("--at", "at_text", help="Evaluate at this date (default: now).")
@click.option("--months", default=12, show_default=True, help="Month-by-month history length.")
@click.option("--json", "as_json", is_flag=True)
def metrics(config_path: str | None, connection: str | None, at_text: str | None, months: int,
            as_json: bool) -> int:
    """MRR per currency, customers per status and subscription counts, now and by month."""
    from saasync.destinations.local import LocalStore
    from saasync.reports.metrics import (
        compute_metrics,
        metrics_json,
        metrics_tables,
        monthly_series,
    )

    settings = load_settings(config_path)
    name, conn = settings.connection(connection)
    if conn.destination.type != "local":
        raise ConfigError("`saasync metrics` reads the local store: use a connection with destination type \"local\"")
    at = _parse_date(at_text, "--at") or _now()
    grace = timedelta(days=conn.grace_days)
    path = settings.resolve(conn.destination.path)
    if not path.exists():
        raise ConfigError(f"no local store at {path}: run `saasync sync` first")
    with LocalStore(path) as store:
        store.select_data_source(conn.destination.data_source)
        current = compute_metrics(store, at, grace)
        first = at.date().replace(day=1) - relativedelta(months=max(months, 1) - 1)
        series = monthly_series(store, first, at.date(), grace)
    if as_json:
        click.echo(json.dumps(metrics_json(current, series), indent=2, default=str))
    else:
        console = _console()
        for table in metrics_tables(current, series):
            console.print(table)
    return 0


@review.command("map")
@config_option
@connection_option
@click.argument("item")
@click.option("--plan", "plan_id", help="Plan external id for this item's lines (recurring).")
@click.option("--name", "plan_name", help="Plan name (default: the plan id).")
@click.option("--interval", type=click.Choice(["day", "week", "month", "year"]), default="month",
              show_default=True)
@click.option("--count", "interval_count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--one-time", is_flag=True, help="Lines of this item are always one-time charges.")
def review_map(config_path: str | None, connection: str | None, item: str, plan_id: str | None,
               plan_name: str | None, interval: str, interval_count: int, one_time: bool) -> int:
    """Classify ITEM (an item or account code) as a plan, or as one-time."""
    if bool(plan_id) == one_time:
        raise ConfigError("give exactly one of --plan PLAN_ID or --one-time")
    settings = load_settings(config_path)
    name, _ = settings.connection(connection)
    mapping = ItemMapping(item=item, one_time=one_time, plan_external_id=plan_id,
                          plan_name=plan_name or plan_id, interval_unit=interval,
                          interval_count=interval_count)
    with StateStore(settings.resolve(settings.state)) as state:
        state.save_item_mapping(name, mapping)
        waiting = [i for i in state.review_items(name)
                   if i.reason == "UNMAPPED_ITEM" and (i.raw or {}).get("item") == item]
    what = "one-time" if one_time else f"plan {plan_id} ({interval_count} {interval})"
    click.echo(f"{item!r} is now {what} for connection {name!r}; {len(waiting)} invoice(s) in the "
               "review queue wait for it: the next `saasync sync` sends them.")
    return 0


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True,
              help="TOML config; connections with a `schedule` (cron) are run.")
@click.option("--max-runs", type=int, default=None, help="Stop after this many runs (testing).")
def schedule(config_path: str, max_runs: int | None) -> int:
    """Run connections on their cron schedules until SIGTERM/SIGINT (then exit 0 cleanly)."""
    from saasync.scheduler import Scheduler, StopFlag

    settings = load_settings(config_path)
    stop = StopFlag()
    stop.install()

    def run(name: str, conn: ConnectionSettings, should_stop: Callable[[], bool]) -> RunReport:
        return run_connection(settings, name, conn, mode="sync", dry_run=False, should_stop=should_stop)

    scheduler = Scheduler(settings, run, stop)
    for name, when in sorted(scheduler.plan().items()):
        click.echo(f"{name}: next run at {when.isoformat()}", err=True)
    scheduler.loop(max_runs=max_runs)
    return 0


@cli.command()
@config_option
@click.option("--check", is_flag=True, help="Exit 6 when a connection has not succeeded within its expected interval.")
@click.option("--json", "as_json", is_flag=True)
def status(config_path: str | None, check: bool, as_json: bool) -> int:
    """Last success, last error and lag per connection (for monitoring)."""
    from saasync.scheduler import connection_status

    settings = load_settings(config_path)
    with StateStore(settings.resolve(settings.state), read_only=True) as state:
        rows = [connection_status(state, name, conn, _now()) for name, conn in sorted(settings.connections.items())]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        table = Table(title="Connections", show_edge=False)
        for col in ("connection", "last success", "lag", "last error", "late"):
            table.add_column(col, overflow="fold")
        for r in rows:
            lag = f"{r.lag_seconds / 60:.0f} min" if r.lag_seconds is not None else "never"
            table.add_row(r.connection, r.last_success or "never", lag,
                          f"{r.last_error or ''} {r.last_error_message or ''}".strip(),
                          "LATE" if r.late else "ok")
        _console().print(table)
    return int(ExitStatus.ISSUES_FOUND) if check and any(r.late for r in rows) else 0


@cli.command()
@config_option
@click.argument("connection")
def unlock(config_path: str | None, connection: str) -> int:
    """Remove a lock left by a run that was killed (check no run is going on first)."""
    settings = load_settings(config_path)
    with StateStore(settings.resolve(settings.state)) as state:
        removed = state.force_unlock(connection)
    click.echo(f"lock of {connection!r} {'removed' if removed else 'was not held'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and turns known errors into exit statuses and clear messages."""
    try:
        result = cli.main(args=argv, prog_name="saasync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(ExitStatus.CONFIG)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return int(ExitStatus.ERROR)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.CONFIG)
    except AuthError as exc:
        click.echo(f"error: credentials refused: {exc}", err=True)
        return int(ExitStatus.AUTH)
    except LockedError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.LOCKED)
    except SourceChangedError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.SOURCE_CHANGED)
    except SaasyncError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.ERROR)
    except Exception as exc:  # the CLI edge: a message and an exit status, not a traceback
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for details)", err=True)
        return int(ExitStatus.ERROR)
    return int(result or 0)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
