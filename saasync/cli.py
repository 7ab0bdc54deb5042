"""The ``saasync`` command line: wiring only; each command returns an exit status.

Over 400 lines on purpose: it is the one list of commands, each a few lines of options
and output around ``saasync.runner`` (building and running) and the state store; the
commands that live with their feature (reports, server, Celery, state) load lazily.

Exit statuses (also in the README):
  0 ok · 1 unexpected error · 2 configuration or usage error · 3 credentials refused ·
  4 another run of the connection holds the lock · 5 the run finished but the destination
  refused some records (see ``saasync review``) · 6 issues found (``audit --fail-on-issues``,
  ``status --check``, ``state check``) · 7 the state file or local store is damaged (the
  message names it and how to recover) · 8 the source changed while it was read (nothing
  sent; run again)
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import sys
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import click
from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta
from rich.console import Console
from rich.table import Table

from saasync import __version__
from saasync.command_options import config_option, connection_option, workers_option
from saasync.connector import ItemMapping
from saasync.console import StdoutClosed, closed_stdout, human_time, stdout_console
from saasync.errors import (
    AuthError,
    ConfigError,
    LockedError,
    SaasyncError,
    SourceChangedError,
)
from saasync.exit_status import ExitStatus
from saasync.logs import configure_logging
from saasync.run_report_render import render_report, report_json
from saasync.runner import run_connection, scheduled_sync
from saasync.settings import load_settings
from saasync.sqlite_files import DamagedFileError, damaged_file_error, forget_opened
from saasync.state import StateStore


def _console() -> Console:
    return stdout_console()


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


# -- commands -------------------------------------------------------------------------------
class LazyGroup(click.Group):
    """Commands that live with their feature (reports, the server, Celery) are imported
    when asked for, so ``saasync sync`` does not pay for loading them."""

    LAZY: ClassVar[dict[str, str]] = {
        "reconcile": "saasync.reports.commands:reconcile",
        "explain": "saasync.reports.commands:explain",
        "audit": "saasync.reports.commands:audit",
        "serve": "saasync.server.command:serve",
        "celery": "saasync.distributed.command:celery_group",
        "state": "saasync.state_commands:state_group",
        "sample": "saasync.sample_command:sample_group",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, _, attr = self.LAZY[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # click would exit 1 on it: see saasync.console
            raise StdoutClosed from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saasync")
@click.option("--log-json", is_flag=True, help="Log as JSON lines (default when stderr is not a terminal).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug events (every request, every decision).")
def cli(log_json: bool, verbose: bool) -> None:
    """saasync keeps subscription analytics true to billing.

    Every record read is pushed, unchanged, skipped with a reason code, or quarantined
    for review; the counts always add up.
    """
    _VERBOSE[0] = verbose
    configure_logging(json_logs=True if log_json else None, verbose=verbose)


_VERBOSE = [False]  # set by ``-v``: an unexpected error then prints its traceback


def _sync_like(mode: str, config_path: str | None, connection: str | None, dry_run: bool,
               as_json: bool, since: str | None = None, until: str | None = None,
               workers: int | None = None) -> int:
    settings = load_settings(config_path)
    name, conn = settings.connection(connection)
    start = _parse_date(since, "--since")
    end = _parse_date(until, "--until")
    if start and end and end <= start:
        raise ConfigError("--until must be after --since")
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
@click.option("--limit", default=20, show_default=True, help="How many runs to show, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
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
        table.add_row(str(r.id), r.connection, r.mode, human_time(r.started_at), r.status,
                      str(c.get("read", "")), str(c.get("pushed", "")), str(c.get("unchanged", "")),
                      str(sum(c.get("skipped", {}).values())), str(sum(c.get("quarantined", {}).values())))
    _console().print(table)
    return 0


@cli.group(invoke_without_command=True)
@config_option
@connection_option
@click.option("--json", "as_json", is_flag=True, help="Print the review queue as JSON.")
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
                      i.field or "", _review_message(i))
    _console().print(table)
    return 0


def _review_message(item: Any) -> str:
    """The message without the record and field it starts with: the table has columns
    for those (``--json`` keeps the message whole)."""
    message: str = item.message
    for ext_id in {item.external_id, item.external_id or "?"}:
        message = message.removeprefix(f"{item.kind} {ext_id!r}: ")
    if item.field:
        message = message.removeprefix(f"field {item.field!r}: ")
    return message


@cli.command()
@config_option
@connection_option
@click.option("--at", "at_text",
              help="Evaluate at this date: YYYY-MM-DD or an ISO 8601 time, UTC unless it has "
                   "an offset (default: now).")
@click.option("--months", type=click.IntRange(min=1), default=12, show_default=True,
              help="Month-by-month history length (at least 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--currency", "total_currency", help="Also show MRR/ARR totals converted into "
              "this currency (per-currency figures stay as they are).")
@click.option("--fx-rates", "fx_rates", type=click.Path(dir_okay=False),
              help="Dated exchange rates for --currency (CSV date,currency,rate or JSON); "
              "default: the bundled SAMPLE rates for USD/EUR/JPY (not market data).")
def metrics(config_path: str | None, connection: str | None, at_text: str | None, months: int,
            as_json: bool, total_currency: str | None, fx_rates: str | None) -> int:
    """MRR per currency, customers per status and subscription counts, now and by month,
    with each month's MRR movements (new business, expansion, contraction, churn,
    reactivation) per currency."""
    from saasync.destinations.local import LocalStore
    from saasync.fx import MissingRate, RatesFileError, load_rates, sample_rates
    from saasync.money import is_known_currency
    from saasync.reports.metrics import (
        FxTotal,
        compute_metrics,
        metrics_json,
        metrics_tables,
        monthly_series,
    )

    total = None
    if fx_rates is not None and total_currency is None:
        raise ConfigError("--fx-rates needs --currency: the currency to total in")
    if total_currency is not None:
        if not is_known_currency(total_currency):
            raise ConfigError(f"--currency {total_currency!r} is not an ISO 4217 currency code")
        try:
            rates = load_rates(fx_rates) if fx_rates is not None else sample_rates()
        except RatesFileError as exc:
            raise ConfigError(f"--fx-rates: {exc}") from None
        total = FxTotal(total_currency.upper(), rates)

    settings = load_settings(config_path)
    _name, conn = settings.connection(connection)
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
        first = at.date().replace(day=1) - relativedelta(months=months - 1)
        series = monthly_series(store, first, at.date(), grace)
    try:
        if as_json:
            click.echo(json.dumps(metrics_json(current, series, total), indent=2, default=str))
        else:
            console = _console()
            for table in metrics_tables(current, series, total):
                console.print(table)
    except MissingRate as exc:
        raise ConfigError(f"--currency {total.currency if total else ''}: {exc}; "
                          "add the rate to the --fx-rates file") from None
    return 0


@review.command("map")
@config_option
@connection_option
@click.argument("item")
@click.option("--plan", "plan_id", help="Plan external id for this item's lines (recurring).")
@click.option("--name", "plan_name", help="Plan name (default: the plan id).")
@click.option("--interval", type=click.Choice(["day", "week", "month", "year"]), default="month",
              show_default=True, help="The plan's billing interval unit.")
@click.option("--count", "interval_count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interval units per billing period (3 with --interval month: quarterly).")
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
@config_option
@click.option("--connection", "connection",
              help="Run only this connection (default: every connection with a `schedule`).")
@click.option("--max-runs", type=int, default=None, help="Stop after this many runs (testing).")
def schedule(config_path: str | None, connection: str | None, max_runs: int | None) -> int:
    """Run connections on their cron schedules until SIGTERM/SIGINT (then exit 0 cleanly)."""
    from saasync.scheduler import Scheduler, StopFlag

    settings = load_settings(config_path)
    if connection is not None:
        name, conn = settings.connection(connection)
        if not conn.schedule:
            raise ConfigError(f"connection {name!r} has no `schedule` (a cron expression) to run on")
        settings = settings.model_copy(update={"connections": {name: conn}})
    stop = StopFlag()
    stop.install()

    def announce(name: str, when: datetime) -> None:
        click.echo(f"{name}: next run at {human_time(when)}", err=True)

    Scheduler(settings, scheduled_sync(settings), stop, announce=announce).loop(max_runs=max_runs)
    return 0


@cli.command()
@config_option
@click.option("--connection", "connection", help="Show only this connection (default: all).")
@click.option("--check", is_flag=True, help="Exit 6 when a connection has not succeeded within its expected interval.")
@click.option("--json", "as_json", is_flag=True, help="Print the connections' status as JSON.")
def status(config_path: str | None, connection: str | None, check: bool, as_json: bool) -> int:
    """Last success, last error and lag per connection (for monitoring)."""
    from saasync.scheduler import connection_status

    settings = load_settings(config_path)
    chosen = ([settings.connection(connection)] if connection is not None
              else sorted(settings.connections.items()))
    with StateStore(settings.resolve(settings.state), read_only=True) as state:
        rows = [connection_status(state, name, conn, _now()) for name, conn in chosen]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        table = Table(title="Connections", show_edge=False)
        for col in ("connection", "last success", "lag", "last error", "late"):
            table.add_column(col, overflow="fold")
        for r in rows:
            lag = f"{r.lag_seconds / 60:.0f} min" if r.lag_seconds is not None else "never"
            table.add_row(r.connection, human_time(r.last_success, "never"), lag,
                          f"{human_time(r.last_error)} {r.last_error_message or ''}".strip(),
                          "LATE" if r.late else "ok")
        _console().print(table)
    return int(ExitStatus.ISSUES_FOUND) if check and any(r.late for r in rows) else 0


@cli.command()
@config_option
@click.option("--connection", "connection_option",
              help="The connection whose lock to remove (or give NAME).")
@click.argument("name", required=False)
def unlock(config_path: str | None, connection_option: str | None, name: str | None) -> int:
    """Remove a lock left by a run that was killed (check no run is going on first).

    The connection is `--connection NAME` or just NAME."""
    if connection_option is not None and name is not None and connection_option != name:
        raise click.UsageError(f"give the connection once: --connection {connection_option!r} "
                               f"or NAME {name!r}")
    connection = connection_option or name
    if connection is None:
        raise click.UsageError("which connection? give --connection NAME (or NAME)")
    settings = load_settings(config_path)
    with StateStore(settings.resolve(settings.state)) as state:
        removed = state.force_unlock(connection)
    click.echo(f"lock of {connection!r} {'removed' if removed else 'was not held'}")
    return 0


@cli.command("init")
@click.option("--connector", "connector_name", default="files", show_default=True,
              help="The installed connector to configure (see `saasync connectors`).")
@click.option("--destination", type=click.Choice(["local", "chartmogul"]), default="local",
              show_default=True,
              help="local: the embedded analytics store; chartmogul: the ChartMogul API.")
@click.argument("path", default="saasync.toml", type=click.Path(dir_okay=False))
def init(connector_name: str, destination: str, path: str) -> int:
    """Write a commented starter config for one connector to PATH (default saasync.toml).

    Every option of the connector is listed with its meaning; secrets appear only as the
    names of the environment variables that hold them. An existing file is never
    overwritten.
    """
    from pathlib import Path

    from saasync.init_templates import installed_connectors, render_config

    target = Path(path)
    if target.exists():
        raise ConfigError(f"{target} already exists: not overwritten (remove it, or give "
                          "another PATH)")
    known = {c.name: c for c in installed_connectors()}
    info = known.get(connector_name)
    if info is None:
        raise ConfigError(f"unknown connector {connector_name!r} (installed: "
                          f"{', '.join(sorted(known)) or 'none'})")
    if info.error:
        raise ConfigError(f"connector {connector_name!r} failed to load: {info.error}")
    options = info.options
    text = render_config(connector_name, destination, options, summary=info.summary)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as handle:  # "x": never clobber a racing writer
        handle.write(text)
    secrets = [o.value.strip('"') for o in options if o.active and o.name.endswith("_env")]
    if destination == "chartmogul":
        secrets.append("CHARTMOGUL_API_KEY")
    click.echo(f"wrote {target} ({connector_name} -> {destination}); edit it, then:")
    if secrets:
        click.echo(f"  export {'=... '.join(secrets)}=...")
    click.echo(f"  saasync sync --config {target} --dry-run")
    return 0


@cli.command("connectors")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def connectors_command(as_json: bool) -> int:
    """The installed connectors (built-in and plug-ins), their options and BEHAVIOR.md.

    A plug-in that fails to load is listed as broken, with its error.
    """
    from saasync.init_templates import installed_connectors

    found = installed_connectors()
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in found], indent=2))
        return 0
    for c in found:
        origin = "built-in" if c.builtin else f"{c.distribution or '?'} {c.version or ''}".strip()
        click.echo(f"{c.name}  ({origin}, {c.target})")
        if c.error:
            click.echo(f"  BROKEN: {c.error}")
            continue
        if c.summary:
            click.echo(f"  reads:    {c.summary}")
        click.echo(f"  options:  {', '.join(o.name for o in c.options) or '(none declared)'}")
        click.echo(f"  behavior: {c.behavior or '(no BEHAVIOR.md beside the module)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and turns known errors into exit statuses and clear messages.

    A reader that stops early (``saasync review | head -1``) is not an error: exit 0, quietly."""
    try:
        status = _main(argv)
        sys.stdout.flush()
    except (BrokenPipeError, StdoutClosed):
        closed_stdout()
        return int(ExitStatus.OK)
    return status


def _main(argv: list[str] | None) -> int:
    forget_opened()
    _VERBOSE[0] = False
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
    except DamagedFileError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.DAMAGED)
    except sqlite3.DatabaseError as exc:  # damage met mid-run: name the file, say how to recover
        damage = damaged_file_error(exc)
        if damage is None:
            click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for details)", err=True)
            return int(ExitStatus.ERROR)
        click.echo(f"error: {damage}", err=True)
        return int(ExitStatus.DAMAGED)
    except SourceChangedError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.SOURCE_CHANGED)
    except SaasyncError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(ExitStatus.ERROR)
    except StdoutClosed:
        raise  # stdout's reader went away: see main
    except Exception as exc:  # noqa: BLE001 -- the CLI edge: a message and an exit status
        if _VERBOSE[0]:  # the details the hint promises: the traceback, with its causes
            click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        else:
            click.echo(f"error: unexpected {type(exc).__name__}: {exc} "
                       "(run with -v for details: saasync -v COMMAND ...)", err=True)
        return int(ExitStatus.ERROR)
    return int(result or 0)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
