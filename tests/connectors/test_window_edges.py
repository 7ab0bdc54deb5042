"""Window edges of the windowed reads (Stripe, Chargebee, Recurly): invoices stamped on an
edge, and a second before one, are each read once, in a backfill read with several
readers, and the read equals the one made one list at a time.

The edges are the ones the connectors plan (``split`` over the backfill's range in
``parts_for(concurrency)`` pieces); each fake keeps its own filter semantics, so an edge
both windows asked for, or neither, shows here as a lost or a doubled invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import Quarantined, ReadWindow
from saasync.kit.windows import parts_for, split
from saasync.models import Invoice
from tests.connectors.chargebee.fake_api import FakeChargebee
from tests.connectors.contract.chargebee_harness import KEY as CB_KEY
from tests.connectors.contract.chargebee_harness import connector_on as chargebee_on
from tests.connectors.contract.chargebee_harness import load_site as chargebee_site
from tests.connectors.contract.recurly_harness import connector_on as recurly_on
from tests.connectors.contract.stripe_harness import make_connector as stripe_on
from tests.connectors.recurly.fake_api import FakeRecurly
from tests.connectors.recurly.fake_api import load_site as recurly_site
from tests.connectors.stripe.fake_api import FakeStripe, load_dataset

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=20)  # within one of Stripe's 30-day invoice windows
READERS = 3
Connect = Callable[[int], Any]


def edge_moments() -> list[datetime]:
    """Every inner edge, a second before it, and the range's own two ends."""
    edges = [start for start, _ in split(SINCE, UNTIL, parts_for(READERS))[1:]]
    assert all(e is not None for e in edges)
    moments = [SINCE, UNTIL]
    for edge in edges:
        assert edge is not None
        moments += [edge, edge - timedelta(seconds=1)]
    return moments


def place(invoices: list[dict[str, Any]], stamp: Callable[[dict[str, Any], datetime], None]) -> set[str]:
    """Put the invoices on the edge moments in turn; the ids inside [SINCE, UNTIL)."""
    inside: set[str] = set()
    for invoice, moment in zip(invoices, edge_moments() * 10, strict=False):
        stamp(invoice, moment)
        if SINCE <= moment < UNTIL:
            inside.add(str(invoice["id"]))
    return inside


@contextmanager
def stripe(tmp_path: Path) -> Iterator[tuple[Connect, set[str]]]:
    data = load_dataset()
    inside = place(data["invoices"], lambda i, m: i.update(created=int(m.timestamp())))
    with FakeStripe(data) as fake:
        yield (lambda n: stripe_on(fake, tmp_path, concurrency=n)), inside


@contextmanager
def chargebee(tmp_path: Path) -> Iterator[tuple[Connect, set[str]]]:
    data = chargebee_site()
    inside = place(data["invoices"], lambda i, m: i.update(date=int(m.timestamp())))
    with FakeChargebee(data, CB_KEY).running() as fake:
        yield (lambda n: chargebee_on(fake, tmp_path, page_size=3, concurrency=n)), inside


@contextmanager
def recurly(tmp_path: Path) -> Iterator[tuple[Connect, set[str]]]:
    site = recurly_site()
    charges = [i for i in site["invoices"] if i["type"] != "credit"]
    inside = place(charges, lambda i, m: i.update(created_at=m.strftime("%Y-%m-%dT%H:%M:%SZ")))
    with FakeRecurly(site, embedded_line_items=1) as fake:
        yield (lambda n: recurly_on(fake, tmp_path, concurrency=n)), inside


def invoice_ids(items: list[object]) -> list[str]:
    return [i.external_id for i in items if isinstance(i, Invoice)] + [
        str(i.external_id) for i in items if isinstance(i, Quarantined) and i.kind == "invoice"]


@pytest.mark.parametrize("source", [stripe, chargebee, recurly], ids=lambda s: s.__name__)
def test_invoices_on_window_edges_are_read_once(source: Any, tmp_path: Path) -> None:
    with source(tmp_path) as (connect, inside):
        window = ReadWindow("backfill", SINCE, UNTIL)
        alone = list(connect(1).read(window))
        together = list(connect(READERS).read(window))
        ids = invoice_ids(together)
        assert len(ids) == len(set(ids)), "an invoice was read twice"
        assert set(ids) == inside and len(inside) >= 6
        assert together == alone
