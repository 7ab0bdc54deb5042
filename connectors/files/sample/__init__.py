"""The bundled samples of the files connector: a small SaaS business's billing exports,
generated deterministically.

``generate(out_dir, end=...)`` writes the exports the ``files`` connector reads. Every
date is relative to ``end`` (any day of the last invoice month), so the data can be
regenerated for any month and always looks current. The export is taken as of the
15th of that month (``as_of``): nothing in it happens later.

Two parts: the scenario customers (``scenarios.py``), with readable ids, each exercising
one rule of docs/rules.md (``SCENARIOS.md`` beside this module says what analytics must
show for each), and a seeded random bulk of ordinary customers (``bulk.py``). Exactly
three rows are deliberately bad, so a newcomer sees the review queue. The command is
``saasync sample generate OUT_DIR``.

``generate(..., invoices_only=True)`` (``--invoices-only``) writes a second, small
export instead: three customers' invoices and no subscription rows, as an accounting
system exports them, to show automatic churn (``auto_churn_days``).

``SAMPLES`` is what the connector offers the core (``saasync.samples.BundledSamples``):
``path = "builtin:NAME"`` and ``saasync sample`` reach the generator through it.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.files.sample.export import Export, Row, as_text, iso
from connectors.files.sample.writers import build, build_invoices_only, generate

__all__ = [
    "SAMPLES", "Export", "FilesSamples", "Row", "as_text", "build", "build_invoices_only",
    "generate", "iso",
]  # fmt: skip

INVOICES_ONLY = "sample-invoices-only"


class FilesSamples:
    """The two bundled samples: ``sample`` (the whole business) and
    ``sample-invoices-only`` (no subscription rows: automatic churn)."""

    names: tuple[str, ...] = ("sample", INVOICES_ONLY)

    def write(self, name: str, target: Path, *, end: date, as_of: datetime | None = None,
              seed: int = 7, fmt: str = "csv") -> None:
        self._check(name)
        generate(target, end=end, seed=seed, fmt=fmt, as_of=as_of,
                 invoices_only=name == INVOICES_ONLY)

    def describe(self, name: str, *, end: date, as_of: datetime) -> dict[str, Any]:
        from connectors.files.sample.describe import describe

        self._check(name)
        only = name == INVOICES_ONLY
        export = build_invoices_only(end, as_of) if only else build(end, as_of=as_of)
        return describe(export, only)

    def render(self, described: dict[str, Any]) -> str:
        from connectors.files.sample.describe import render

        return render(described)

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise ValueError(f"no bundled sample {name!r} (there are {', '.join(self.names)})")


SAMPLES = FilesSamples()
