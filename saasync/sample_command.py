"""``saasync sample generate`` and ``saasync sample describe``: the bundled sample business
of the files connector, reached through ``saasync.samples`` (the core never imports it).

``describe`` prints each scenario customer with its case (SCENARIOS.md, beside the
generator) and the exact dates and amounts of its rows in the export ``saasync sync``
generates this month (``path = "builtin:sample"``), or in the one ``generate`` writes for
another month.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import click

from saasync.errors import ConfigError
from saasync.samples import SAMPLE_CONNECTOR, require_samples, run_moment

SAMPLE, INVOICES_ONLY = "sample", "sample-invoices-only"


@dataclass(frozen=True)
class Run:
    """The export of a run month: invoice months up to ``end``'s, taken at ``as_of``."""

    end: date
    as_of: datetime


def run_for(month: str | None, now: datetime | None = None) -> Run:
    """This month as ``saasync sync`` generates it today (taken at the start of today), or
    another month as ``saasync sample generate --end`` writes it (taken on the 15th)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    if month is None or month == f"{today:%Y-%m}":
        return Run(*run_moment(today))
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--month: not a month: {month!r} (expected YYYY-MM)") from None
    return Run(first.date(), first.replace(day=15))


@click.group("sample")
def sample_group() -> None:
    """The bundled sample business (path = "builtin:sample")."""


@sample_group.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--end", default=None, metavar="DATE",
              help="A day of the last invoice month (default: today); the export is as of its 15th.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True, help="Write CSV files or JSON Lines files.")
@click.option("--seed", type=int, default=7, show_default=True,
              help="The seed of the random bulk of ordinary customers.")
@click.option("--invoices-only", is_flag=True,
              help="The small invoices-only export (no subscription rows) instead.")
def generate_command(out_dir: Path, end: str | None, fmt: str, seed: int,
                     invoices_only: bool) -> int:
    """Write the sample billing exports (a small SaaS business) for the files connector
    into OUT_DIR: the same rows for the same --end and --seed, every time."""
    try:
        last = date.fromisoformat(end) if end else datetime.now(UTC).date()
    except ValueError:
        raise ConfigError(f"--end: not a date: {end!r} (expected YYYY-MM-DD)") from None
    name = INVOICES_ONLY if invoices_only else SAMPLE
    require_samples(SAMPLE_CONNECTOR, name).write(name, out_dir, end=last, seed=seed, fmt=fmt)
    which = "invoices-only sample" if invoices_only else "sample"
    click.echo(f"wrote the {fmt} {which} for {last:%Y-%m} to {out_dir}")
    return 0


@sample_group.command("describe")
@click.option("--json", "as_json", is_flag=True, help="Print the scenario customers as JSON.")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="The run month (default: this month, as `saasync sync` generates it today; "
                   "another month is taken as of its 15th, like `saasync sample generate --end`).")
@click.option("--invoices-only", is_flag=True,
              help="The invoices-only sample (builtin:sample-invoices-only) instead.")
def describe_command(as_json: bool, month: str | None, invoices_only: bool) -> int:
    """Each scenario customer of the sample, its case (SCENARIOS.md) and the exact dates and
    amounts of its rows in the export generated for the run month.

    SCENARIOS.md gives the dates relative to the run month (M0 = its 1st, M-2 = the 1st of
    the month two months before); this prints them.
    """
    run = run_for(month)
    name = INVOICES_ONLY if invoices_only else SAMPLE
    samples = require_samples(SAMPLE_CONNECTOR, name)
    described = samples.describe(name, end=run.end, as_of=run.as_of)
    if as_json:
        click.echo(json.dumps(described, indent=2))
    else:
        click.echo(samples.render(described), nl=False)
    return 0
