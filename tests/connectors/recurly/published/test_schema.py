"""Objects generated from Recurly's published v3 Invoice schema (SOURCES.md) through the
Recurly invoice stream: each becomes an Invoice or a Quarantined with a reason and a field
naming what is wrong, never an exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from saasync.connector import Quarantined
from saasync.models import Invoice
from saasync.reasons import Reason
from saasync_connectors.recurly.streams import InvoicesStream
from tests.connectors.published_support.schema_strategy import strategy

SCHEMA = json.loads((Path(__file__).parent / "schema_fragment.json").read_text(
    encoding="utf-8"))["Invoice"]


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=strategy(SCHEMA))
def test_every_schema_shaped_invoice_becomes_a_record_or_a_quarantine(raw: dict[str, Any]) -> None:
    raw = {**raw, "has_more_line_items": False}  # complete lines: no follow-up request
    item = InvoicesStream()._invoice(None, raw, {})  # type: ignore[arg-type]
    assert isinstance(item, Invoice | Quarantined), item
    if isinstance(item, Quarantined):
        assert item.reason in set(Reason) and item.field
