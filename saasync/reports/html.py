"""Self-contained HTML for ``reconcile --html`` and ``audit --html``: one file to mail or attach.

No external assets and no JavaScript, so the page opens anywhere (a ticket, an air-gapped
laptop) and shows the same thing. Summary first, detail tables below. Long cells wrap and
narrow screens turn each row into a card, so nothing needs scrolling sideways. Every
value is escaped: ids and names come from billing exports and may hold anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from saasync.reports.out_of_sync import (
    NO_ACCOUNT_STATUS,
    NOT_ADDITIVE,
    AuditReport,
    audit_rows,
    summary_rows,
)
from saasync.reports.reconciliation import CSV_COLUMNS as RECONCILE_COLUMNS
from saasync.reports.reconciliation import Reconciliation, reconcile_rows, summary_pairs

STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;
margin:0 auto;padding:1.5rem;max-width:1200px;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
p.meta{color:#5a6275;margin:.25rem 0 1rem}
p.equation{font-weight:600;padding:.6rem .8rem;border-radius:6px;background:#eef6ee}
p.equation.bad{background:#fbeaea}
table{width:100%;border-collapse:collapse;table-layout:auto;margin:.5rem 0 1rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .55rem;border-bottom:1px solid #e3e6ec;
overflow-wrap:anywhere;word-break:break-word;hyphens:auto}
th{background:#f4f6fa;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
p.empty{color:#5a6275;font-style:italic}
@media (max-width:720px){
body{padding:.75rem}
table.detail thead{display:none}
table.detail,table.detail tbody,table.detail tr,table.detail td{display:block;width:100%}
table.detail tr{border:1px solid #e3e6ec;border-radius:6px;margin:0 0 .75rem;padding:.25rem}
table.detail td{border:0;padding:.2rem .4rem}
table.detail td::before{content:attr(data-label) ": ";font-weight:600;color:#5a6275}
}
"""


@dataclass(frozen=True)
class Section:
    """One titled table; ``numeric`` names columns to right-align."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: Sequence[str] = ()
    detail: bool = True  # detail tables become cards on narrow screens


def _table(section: Section) -> str:
    if not section.rows:
        return f"<h2>{escape(section.title)}</h2>\n<p class=\"empty\">None.</p>\n"
    table_class = ' class="detail"' if section.detail else ""

    def cls(column: str) -> str:
        return ' class="num"' if column in section.numeric else ""

    head = "".join(f'<th{cls(c)} scope="col">{escape(c)}</th>' for c in section.columns)
    body = [
        "<tr>"
        + "".join(
            f'<td{cls(c)} data-label="{escape(c, quote=True)}">{escape(str(v))}</td>'
            for c, v in zip(section.columns, row, strict=True)
        )
        + "</tr>"
        for row in section.rows
    ]
    return (f"<h2>{escape(section.title)}</h2>\n<table{table_class}>\n"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>\n")


def render_page(title: str, meta: str, sections: Sequence[Section], *, lead: str = "",
                lead_class: str = "") -> str:
    """A complete HTML document: title, a meta line, an optional lead paragraph, tables."""
    lead_html = (f"<p class=\"{escape(lead_class, quote=True)}\">{escape(lead)}</p>\n"
                 if lead else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<p class=\"meta\">{escape(meta)}</p>\n{lead_html}"
        + "".join(_table(s) for s in sections)
        + "</body>\n</html>\n"
    )


def _indent(label: str) -> str:
    """Leading spaces collapse in HTML; em spaces keep the status rows under their total."""
    stripped = label.lstrip(" ")
    return "\u2003\u2003" * ((len(label) - len(stripped)) // 2) + stripped


def reconcile_html(rec: Reconciliation, *, connection: str, generated: datetime) -> str:
    """The reconcile report: counts side by side and the equation, then every difference."""
    rows = reconcile_rows(rec)
    columns = [c for c in RECONCILE_COLUMNS[1:] if c != "count"]

    def part(key: str) -> list[list[str]]:
        return [[r[c] for c in columns] for r in rows if r["section"] == key]

    sections = [
        Section("Billing and analytics side by side", ("", "billing", "analytics"),
                [(_indent(what), b, a) for what, b, a in summary_pairs(rec)],
                numeric=("billing", "analytics"), detail=False),
        Section("Subscriptions missing at analytics, by reason", ("reason", "subscriptions"),
                [(r, str(n)) for r, n in rec.missing_by_reason.items()],
                numeric=("subscriptions",), detail=False),
        Section("Statuses that differ, by cause", ("cause", "subscriptions", "meaning"),
                [(r["code"], r["count"], r["detail"]) for r in rows
                 if r["section"] == "status_difference_by_cause"],
                numeric=("subscriptions",), detail=False),
        Section(f"Subscriptions billing has, analytics lacks ({len(rec.missing)})", columns,
                part("missing")),
        Section(f"Statuses that differ ({len(rec.mismatches)})", columns,
                part("status_difference")),
        Section(f"Analytics has, billing does not ({len(rec.destination_only)})", columns,
                part("destination_only")),
    ]
    meta = (f"connection {connection} · statuses at {rec.at:%Y-%m-%d %H:%M} UTC · "
            f"generated {generated:%Y-%m-%d %H:%M} UTC")
    return render_page("saasync reconcile", meta, sections, lead=rec.equation(),
                       lead_class="equation" if rec.balanced else "equation bad")


def audit_html(report: AuditReport, *, connection: str, generated: datetime) -> str:
    """The out-of-sync accounts report: the per-code summary, then one row per (account, code)."""
    meta = f"connection {connection} · generated {generated:%Y-%m-%d %H:%M} UTC"
    if not report.supported:
        return render_page("saasync audit: out-of-sync accounts", meta, [],
                           lead=NO_ACCOUNT_STATUS)
    columns = ("customer", "name", "account_status", "billing_cycle_enabled", "code",
               "subscriptions", "root_cause", "action", "money_at_stake")
    sections = [
        Section("Summary per code", ("code", "accounts", "money at stake per month",
                                     "likely root cause"),
                summary_rows(report.summary), numeric=("accounts",), detail=False),
        Section(f"Findings ({len(report.findings)})", columns,
                [[r[c] for c in columns] for r in audit_rows(report)]),
    ]
    lead = (f"{report.flagged_accounts} of {report.audited} audited accounts are out of sync "
            f"({len(report.findings)} findings); {NOT_ADDITIVE}.")
    return render_page("saasync audit: out-of-sync accounts", meta, sections, lead=lead)
