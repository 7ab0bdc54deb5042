"""What a connector's contract harness provides: a connector on a fake source it controls.

Each connector adds one harness (a local fake of its billing API, or files) and lists it
in ``registry.py``; the contract suite then runs the same tests against every one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from saasync.connector import Connector


@dataclass
class SourceUnderTest:
    """A connector reading a fake source, and what that source holds."""

    connector: Connector
    # every record the source holds, as (kind, external_id); kind is customer | plan |
    # invoice | subscription, or the Quarantined.kind for records that must be quarantined
    expected: set[tuple[str, str]]
    # invoices' issued_at range, to cut backfill windows inside it
    first_invoice: datetime
    last_invoice: datetime
    extra: dict[str, object] = field(default_factory=dict)


class ContractHarness(Protocol):
    name: str

    def source(self, tmp_path: Path) -> AbstractContextManager[SourceUnderTest]:
        """Start the fake source (server, files) and yield a connector on it."""
        ...

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        """Change the source after a first read: update one invoice (e.g. now paid) and add
        one new invoice, with update timestamps after everything read before. Return the
        (kind, external_id) of what changed."""
        ...


def iterate(cm: AbstractContextManager[SourceUnderTest]) -> Iterator[SourceUnderTest]:
    with cm as value:
        yield value
