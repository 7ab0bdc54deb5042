"""The ``reconcile``, ``explain`` and ``audit`` commands and their terminal output.

Each command returns an exit status; JSON, CSV and HTML shapes live with each report.

They read; they never write. The source is read in full through its connector (as a
dry run would), the destination through its read API (the local store, or ChartMogul's
read-back), the review queue from the state file opened read-only. Connector,
destination and rule settings come from ``saasync.runner``, as for a run.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from dateutil import parser as dateparser
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from saasync.command_options import config_option, connection_option
from saasync.console import progress_bar, stdout_console
from saasync.errors import ConfigError
from saasync.models import Customer
from saasync.money import format_money
from saasync.reports import out_of_sync as audit_report
from saasync.reports.explain import Explanation, explain_json, resolve
from saasync.reports.explain import explain as explain_story
from saasync.reports.html import audit_html, reconcile_html
from saasync.reports.out_of_sync import ISSUES_FOUND, NO_ACCOUNT_STATUS, NOT_ADDITIVE, AuditReport
from saasync.reports.reconciliation import CSV_COLUMNS as RECONCILE_COLUMNS
from saasync.reports.reconciliation import (
    DestinationReader,
    HeldDestination,
    Reconciliation,
    SourceRead,
    quarantined_ids,
    read_source,
    reconcile_json,
    reconcile_rows,
    summary_pairs,
)
from saasync.reports.reconciliation import reconcile as reconcile_report
from saasync.rules.audit import Finding, audit_account
from saasync.runner import make_connector, make_destination, rule_settings
from saasync.settings import ConnectionSettings, Settings, load_settings
from saasync.state import StateStore

__all__ = ["ISSUES_FOUND", "audit", "commands", "explain", "reconcile"]

at_option = click.option("--at", "at_text",
                         help="Judge analytics statuses at this date (default: now).")


# -- loading --------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _at(text: str | None) -> datetime:
    if text is None:
        return _now()
    try:
        parsed = dateparser.isoparse(text)
    except ValueError:
        raise ConfigError(f"--at: not a date: {text!r} (expected YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _load(config_path: str | None, connection: str | None) -> tuple[Settings, str,
                                                                     ConnectionSettings]:
    settings = load_settings(config_path)
    name, conn = settings.connection(connection)
    return settings, name, conn


def _read(settings: Settings, name: str, conn: ConnectionSettings) -> tuple[SourceRead,
                                                                         frozenset[str]]:
    """A full read of the source, and the quarantined ids (review queue and this read's).

    The state opens read-only, as for a dry run: the connector gets its token store and
    the user's item mappings, and nothing is written.
    """
    with StateStore(settings.resolve(settings.state), read_only=True) as state:
        source = read_source(make_connector(settings, name, conn, _now, state))
        queued = [(i.external_id, i.raw) for i in state.review_items(name)]
    ids = quarantined_ids([*queued, *((q.external_id, q.raw) for q in source.quarantined)])
    return source, ids


@contextmanager
def _destination(settings: Settings, conn: ConnectionSettings, *, customer: str | None = None,
                 show_progress: bool = False) -> Iterator[DestinationReader]:
    """The destination's read side. Nothing synced yet reads as an empty destination.

    ``customer``: only that customer is read (``explain``), where reading costs requests.
    ``show_progress``: a bar while ChartMogul is read back (a terminal, no ``--json``).
    """
    dest = conn.destination
    if dest.type == "chartmogul":
        yield HeldDestination.from_snapshot(_read_chartmogul(settings, conn, customer,
                                                             show_progress))
        return
    from saasync.destinations.local import LocalStore

    path = settings.resolve(dest.path)
    if not path.exists():  # never create the store: reconcile and explain write nothing
        yield HeldDestination()
        return
    with LocalStore(path) as store:
        if dest.data_source not in {ds.name for ds in store.data_sources()}:
            yield HeldDestination()
            return
        store.select_data_source(dest.data_source)
        yield store


def _read_chartmogul(settings: Settings, conn: ConnectionSettings, customer: str | None,
                     show_progress: bool) -> Any:
    """ChartMogul's read-back (a ``DestinationSnapshot``): the whole data source with
    list endpoints, 200 a page, or one customer's records only (a handful of requests)."""
    from saasync.destinations.chartmogul.destination import ChartMogulDestination
    from saasync.destinations.chartmogul.readback import (
        DestinationSnapshot,
        read_customer,
        read_state,
    )

    destination = make_destination(settings, conn)
    try:
        if not isinstance(destination, ChartMogulDestination):  # pragma: no cover
            raise ConfigError("destination type chartmogul: not a ChartMogul destination")
        uuid = destination.find_data_source(conn.destination.data_source)
        if uuid is None:
            return DestinationSnapshot.empty()
        if customer is not None:
            return read_customer(destination.client, uuid, customer)
        with progress_bar(show_progress) as progress:
            return read_state(destination.client, uuid, progress=progress)
    finally:
        destination.close()


def _show_progress(as_json: bool) -> bool:
    return sys.stdout.isatty() and not as_json


# -- output ---------------------------------------------------------------------------------
def _console() -> Console:
    return stdout_console()


def _write_csv(path: str, columns: Sequence[str], rows: Sequence[Mapping[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def _wrote(what: str, path: str, as_json: bool) -> None:
    click.echo(f"wrote {what} to {path}", err=as_json)


def _json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


# -- terminal renderings -------------------------------------------------------------------
def reconcile_tables(rec: Reconciliation) -> list[RenderableType]:
    """The terminal rendering: summary side by side, the equation, then each kind of difference."""
    summary = Table(title=f"Reconcile at {rec.at:%Y-%m-%d %H:%M} UTC")
    for col in ("", "billing", "analytics"):
        summary.add_column(col, justify="right" if col else "left")
    for row in summary_pairs(rec):
        summary.add_row(*row)
    out: list[RenderableType] = [summary, Text(rec.equation(), style="bold")]
    causes = Table(title="Statuses that differ, by cause (subscriptions)", show_edge=False)
    for col in ("cause", "subscriptions", "meaning"):
        causes.add_column(col, justify="right" if col == "subscriptions" else "left",
                          overflow="fold")
    for r in reconcile_rows(rec):
        if r["section"] == "status_difference_by_cause" and r["count"] != "0":
            causes.add_row(r["code"], r["count"], r["detail"])
    out.append(causes)
    ids = ("subscription", "customer")
    sections = (("missing", "Subscriptions billing has, analytics lacks (one primary reason each)",
                 (*ids, "source_status", "code", "detail")),
                ("status_difference", "Statuses that differ, and why (own cause each)",
                 (*ids, "source_status", "analytics_status", "code", "invoice", "detail")),
                ("destination_only", "Analytics has, billing does not",
                 (*ids, "analytics_status")))
    rows = reconcile_rows(rec)
    for key, title, columns in sections:
        chosen = [r for r in rows if r["section"] == key]
        table = Table(title=f"{title}: {len(chosen)}", show_edge=False, expand=True)
        for col in columns:
            flexible = {"detail": 3, "subscription": 1, "customer": 1}.get(col)
            table.add_column(col.replace("_status", ""), overflow="fold", ratio=flexible,
                             no_wrap=flexible is None, min_width=12 if flexible == 1 else None)
        for r in chosen:
            table.add_row(*(r[c] for c in columns))
        out.append(table)
    return out


def explain_lines(ex: Explanation) -> list[str]:
    """The terminal rendering, as plain lines (rich markup-free, so ids print as they are)."""
    who = f"{ex.customer} {ex.customer_name}".strip()
    head = f"subscription {ex.id} of customer {who}" if ex.kind == "subscription" else (
        f"customer {who}")
    status = (f"customer status: analytics should show {ex.customer_expected}, "
              f"the destination shows {ex.customer_actual}")
    out = [f"{head}, at {ex.at:%Y-%m-%d %H:%M} UTC", status, "", "invoices:"]
    for i in ex.invoices:
        day = f"{i.date:%Y-%m-%d}" if i.date else "????-??-??"
        verdict = i.decision + (f" {i.reason}" if i.reason else "")
        detail = f"  {i.detail}" if i.detail else ""
        out.append(f"  {day} {i.invoice} [{i.status}] -> {verdict}{detail}")
        for ln in i.lines:
            money = format_money(ln.amount, i.currency) if i.currency else str(ln.amount)
            if ln.discount:
                off = format_money(ln.discount, i.currency) if i.currency else str(ln.discount)
                money += f" after {off} discount"
            fate = "sent" if ln.sent else f"not sent ({ln.reason or '-'})"
            out.append(f"      {ln.kind} {ln.subscription or ''} {ln.plan or ''} {money}: {fate}")
    if not ex.invoices:
        out.append("  none")
    if ex.customer_months:
        out.append("customer month by month: "
                   + ", ".join(f"{m[:7]} {st}" for m, st in ex.customer_months))
    for s in ex.subscriptions:
        billing = s.today.billing_status or "no record"
        out += ["", f"subscription {s.subscription} (billing: {billing})"]
        out.append(f"  starts at the destination with {s.start.invoice_external_id} "
                   f"({s.start.issued_at:%Y-%m-%d}): first non-$0 kept invoice" if s.start
                   else f"  never created at the destination: {s.missing_reason or '-'}")
        out.append(f"  cancellation: {s.cancellation}")
        out += [f"  {c.at:%Y-%m-%d} -> {c.status}: {c.why}" for c in s.changes]
        if s.months:
            out.append("  month by month: " + ", ".join(f"{m[:7]} {st}" for m, st in s.months))
        t = s.today
        out.append(f"  today: should be {t.expected_status} {_money(t.expected_mrr)}; destination "
                   f"shows {t.actual_status} {_money(t.actual_mrr)}"
                   + ("" if t.matches else "  <-- differs (run `saasync sync`?)"))
        if t.difference:
            diff = t.difference
            out.append(f"  billing vs analytics: {diff.code}: {diff.explanation}")
    return out


def _money(value: tuple[str, int] | None) -> str:
    return f"(MRR {format_money(value[1], value[0])})" if value else "(no MRR)"


def audit_tables(report: AuditReport) -> list[RenderableType]:
    """Terminal rendering: the per-code summary, then one row per (account, code)."""
    summary = Table(title=f"Out-of-sync accounts: {report.flagged_accounts} of "
                          f"{report.audited} audited accounts flagged", caption=NOT_ADDITIVE)
    for col in ("code", "accounts", "money at stake per month", "likely root cause"):
        summary.add_column(col, overflow="fold")
    for row in audit_report.summary_rows(report.summary):
        summary.add_row(*row)
    detail = Table(title=f"Findings: {len(report.findings)}", show_edge=False, expand=True)
    for col, ratio in (("account", 3), ("code", 3), ("subscriptions", 2), ("what to do", 3),
                       ("money at stake", 3)):
        detail.add_column(col, overflow="fold", ratio=ratio)
    for flat in audit_report.audit_rows(report):
        cycle = {"true": "on", "false": "off"}.get(flat["billing_cycle_enabled"], "unknown")
        detail.add_row(f"{flat['customer']} ({flat['account_status']}, billing cycle {cycle})",
                       flat["code"], flat["subscriptions"] or "-", flat["action"],
                       flat["money_at_stake"])
    return [summary, detail]


# -- commands -------------------------------------------------------------------------------
@click.command()
@config_option
@connection_option
@at_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also write every difference as CSV to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report to this file.")
def reconcile(config_path: str | None, connection: str | None, at_text: str | None,
              as_json: bool, csv_path: str | None, html_path: str | None) -> int:
    """Billing's subscriptions against analytics': counts side by side, every difference explained.

    source subscriptions = present at the destination + missing by one reason each.
    """
    settings, name, conn = _load(config_path, connection)
    at = _at(at_text)
    source, quarantined = _read(settings, name, conn)
    with _destination(settings, conn, show_progress=_show_progress(as_json)) as destination:
        rec = reconcile_report(source, destination, at, rule_settings(conn), quarantined)
    if csv_path:
        _write_csv(csv_path, RECONCILE_COLUMNS, reconcile_rows(rec))
    if html_path:
        _write_text(html_path, reconcile_html(rec, connection=name, generated=_now()))
    if as_json:
        _json({"connection": name, **reconcile_json(rec)})
    else:
        console = _console()
        for table in reconcile_tables(rec):
            console.print(table)
    for what, path in (("CSV", csv_path), ("HTML", html_path)):
        if path:
            _wrote(what, path, as_json)
    return 0


@click.command()
@config_option
@connection_option
@at_option
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON.")
@click.argument("ident", metavar="ID")
def explain(config_path: str | None, connection: str | None, at_text: str | None,
            as_json: bool, ident: str) -> int:
    """The story of one source subscription or customer ID, from billing to analytics.

    Each invoice with what was decided and why, when the subscription starts at the
    destination, its status month by month, and today's expected vs actual status.
    """
    settings, name, conn = _load(config_path, connection)
    at = _at(at_text)
    source, quarantined = _read(settings, name, conn)
    found = resolve(source, ident)
    story = None
    if found is not None:
        with _destination(settings, conn, customer=found[1]) as destination:
            story = explain_story(source, destination, ident, at, rule_settings(conn),
                                  quarantined)
    if story is None:
        raise click.BadParameter(
            f"{ident!r} is neither a subscription nor a customer of connection {name!r}",
            param_hint="ID")
    audit = _account_audit(source, story.customer)
    if as_json:
        _json({"connection": name, **explain_json(story),
               **({"audit": _audit_json(*audit)} if audit else {})})
    else:
        for line in [*explain_lines(story), *(_audit_lines(*audit) if audit else [])]:
            click.echo(line)
    return 0


def _account_audit(source: SourceRead, cid: str) -> tuple[Customer, list[Finding]] | None:
    """What ``saasync audit`` finds on this one account; None when the source gives it no
    account status (nothing to audit)."""
    customer = source.customers.get(cid)
    if customer is None or customer.account_status is None:
        return None
    subs = [s for s in source.subscriptions.values() if s.customer_external_id == cid]
    return customer, audit_account(customer, subs, source.invoices_of(cid), source.plans)


def _audit_account_text(customer: Customer) -> str:
    enabled = customer.billing_cycle_enabled
    cycle = ("billing cycle not given" if enabled is None
             else "billing cycle on" if enabled else "billing cycle off")
    return f"account {customer.account_status.value if customer.account_status else '?'}, {cycle}"


def _audit_lines(customer: Customer, findings: list[Finding]) -> list[str]:
    out = ["", f"audit: {_audit_account_text(customer)}"
           + ("" if findings else ": in sync, no audit code")]
    for f in findings:
        subs = f" ({', '.join(f.subscriptions)})" if f.subscriptions else ""
        out.append(f"  {f.code.value}{subs}: {f.info.root_cause}; {f.info.action}; "
                   f"at stake: {audit_report.money_text(f.money)}")
    return out


def _audit_json(customer: Customer, findings: list[Finding]) -> dict[str, Any]:
    return {
        "account_status": customer.account_status.value if customer.account_status else None,
        "billing_cycle_enabled": customer.billing_cycle_enabled,
        "codes": [{"code": f.code.value, "subscriptions": list(f.subscriptions),
                   "root_cause": f.info.root_cause, "action": f.info.action,
                   "money_at_stake": audit_report.money_text(f.money)} for f in findings],
    }


@click.command()
@config_option
@connection_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also write one row per (account, code) as CSV to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report to this file.")
@click.option("--fail-on-issues", is_flag=True,
              help=f"Exit with status {ISSUES_FOUND} when any account is out of sync.")
def audit(config_path: str | None, connection: str | None, as_json: bool, csv_path: str | None,
          html_path: str | None, fail_on_issues: bool) -> int:
    """Out-of-sync accounts: account status vs subscriptions vs billing cycle (nine codes).

    Each finding has its likely root cause, what to do, and the MRR at stake.
    """
    settings, name, conn = _load(config_path, connection)
    report = audit_report.run_audit(_read(settings, name, conn)[0])
    if csv_path:
        _write_csv(csv_path, audit_report.CSV_COLUMNS, audit_report.audit_rows(report))
    if html_path:
        _write_text(html_path, audit_html(report, connection=name, generated=_now()))
    if as_json:
        _json({"connection": name, **audit_report.audit_json(report)})
    elif not report.supported:
        click.echo(NO_ACCOUNT_STATUS)
    else:
        console = _console()
        for table in audit_tables(report):
            console.print(table)
    for what, path in (("CSV", csv_path), ("HTML", html_path)):
        if path:
            _wrote(what, path, as_json)
    return ISSUES_FOUND if fail_on_issues and report.findings else 0


commands = (reconcile, explain, audit)
