"""Renderers of a run report: the dry-run diff and the end-of-run summary, as tables or JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from saasync.console import human_time
from saasync.reasons import DESCRIPTIONS, Reason
from saasync.run_report import RunReport


def report_json(report: RunReport) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False, default=str)


def _reason_text(code: str) -> str:
    try:
        return DESCRIPTIONS[Reason(code)]
    except ValueError:
        return ""


def render_report(report: RunReport, console: Console, *, max_rows: int = 25) -> None:
    """Print the summary a person reads: what changed (or would), and why the rest did not."""
    counts = report.counts()
    title = "Dry run: nothing was written" if report.dry_run else f"Run {report.status}"
    console.print(f"[bold]{title}[/bold] - connection [cyan]{report.connection}[/cyan], "
                  f"mode {report.mode}, window {human_time(report.window.get('since'), 'start')} -> "
                  f"{human_time(report.window.get('until'), 'now')}")
    if report.source_unchanged:
        console.print("Source unchanged since the last sync: nothing was read "
                      "(customers waiting for a re-evaluation are still processed)")
    for left in report.settled_imports:
        console.print(f"Settled bulk import {left['import_id']} left in flight by an earlier run: "
                      f"{left['accepted']} records accepted, {left['refused']} refused")

    verb = "would be" if report.dry_run else ""
    changes = Table(title=f"Destination changes{' (' + verb + ')' if verb else ''}", show_edge=False)
    for col in ("created", "updated", "voided", "cancelled", "reactivated", "unchanged records"):
        changes.add_column(col, justify="right")
    ch = report.changes()
    changes.add_row(*(str(ch[k]) for k in ("created", "updated", "voided", "cancelled", "reactivated")),
                    str(counts["unchanged"]))
    console.print(changes)

    kinds = Table(title="Records read", show_edge=False)
    for col in ("kind", "read", "pushed", "unchanged", "skipped", "quarantined"):
        kinds.add_column(col, justify="right" if col != "kind" else "left")
    for kind, row in report.counts_by_kind().items():
        kinds.add_row(kind, *(str(row.get(c, 0)) for c in ("read", "pushed", "unchanged", "skipped", "quarantined")))
    kinds.add_row("[bold]total[/bold]", str(counts["read"]), str(counts["pushed"]), str(counts["unchanged"]),
                  str(sum(counts["skipped"].values())), str(sum(counts["quarantined"].values())))
    console.print(kinds)

    if counts["skipped"] or counts["quarantined"]:
        reasons = Table(title="Not sent, by reason and kind of record", show_edge=False)
        reasons.add_column("outcome")
        reasons.add_column("reason")
        reasons.add_column("kind")
        reasons.add_column("records", justify="right")
        reasons.add_column("meaning")
        for outcome in ("skipped", "quarantined"):
            rows = sorted((code, kind, n) for kind, row in counts[f"{outcome}_by_kind"].items()
                          for code, n in row.items())
            for code, kind, n in rows:
                reasons.add_row(outcome, code, kind, str(n), _reason_text(code))
        console.print(reasons)

    if report.ops:
        ops = Table(title=f"Changes{' that would be made' if report.dry_run else ' made'} "
                          f"(first {min(max_rows, len(report.ops))} of {report.ops_total})", show_edge=False)
        for col in ("action", "kind", "external id", "customer"):
            ops.add_column(col)
        for op in report.ops[:max_rows]:
            ops.add_row(op.action, op.kind, op.external_id, op.customer_external_id or "")
        console.print(ops)
    balance = "[green]balanced[/green]" if counts["balanced"] else "[red]NOT BALANCED[/red]"
    console.print(
        f"read {counts['read']} = pushed {counts['pushed']} + unchanged {counts['unchanged']} + "
        f"skipped {sum(counts['skipped'].values())} + quarantined {sum(counts['quarantined'].values())} "
        f"({balance}); {report.re_evaluated_ops} change(s) from re-evaluated records"
    )
    if report.failed_ops:
        console.print(f"[yellow]{len(report.failed_ops)} change(s) refused by the destination: "
                      "see `saasync review`[/yellow]")
