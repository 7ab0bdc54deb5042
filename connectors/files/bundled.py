"""The bundled samples of the files connector, as the core asks for them
(``saasync.samples.BundledSamples``, the connector's ``samples`` attribute).

The generator (``connectors/files/sample/``) is imported only when a sample is written or
described, so reading exports does not pay for loading it.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

INVOICES_ONLY = "sample-invoices-only"


class FilesSamples:
    """The two bundled samples: ``sample`` (the whole business) and
    ``sample-invoices-only`` (no subscription rows: automatic churn)."""

    names: tuple[str, ...] = ("sample", INVOICES_ONLY)

    def write(self, name: str, target: Path, *, end: date, as_of: datetime | None = None,
              seed: int = 7, fmt: str = "csv") -> None:
        from .sample.writers import generate

        self._check(name)
        generate(target, end=end, seed=seed, fmt=fmt, as_of=as_of,
                 invoices_only=name == INVOICES_ONLY)

    def describe(self, name: str, *, end: date, as_of: datetime) -> dict[str, Any]:
        from .sample.describe import describe
        from .sample.writers import build, build_invoices_only

        self._check(name)
        only = name == INVOICES_ONLY
        export = build_invoices_only(end, as_of) if only else build(end, as_of=as_of)
        return describe(export, only)

    def render(self, described: dict[str, Any]) -> str:
        from .sample.describe import render

        return render(described)

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise ValueError(f"no bundled sample {name!r} (there are {', '.join(self.names)})")


SAMPLES = FilesSamples()
