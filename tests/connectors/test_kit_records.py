"""The kit's one bad-record type and one review-queue helper, shared by every connector."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest

from saasync.kit.records import MappingError, known_id, quarantine
from saasync.models import RecordError
from saasync.reasons import Reason


@pytest.mark.parametrize("module", [
    "saasync_connectors.accounting.records", "saasync_connectors.chargebee.mapping",
    "saasync_connectors.files.mapping", "saasync_connectors.gaiia.mapping",
    "saasync_connectors.recurly.mapping", "saasync_connectors.stripe.mapping",
])
def test_every_connector_raises_the_one_mapping_error(module: str) -> None:
    assert importlib.import_module(module).MappingError is MappingError


def test_the_message_names_record_and_field() -> None:
    exc = MappingError("invoice", None, "status", "unknown status 'x'", Reason.UNKNOWN_STATUS)
    assert str(exc) == "invoice '?': field 'status': unknown status 'x'"
    assert exc.reason is Reason.UNKNOWN_STATUS and isinstance(exc, RecordError)


def test_quarantine_keeps_reason_field_and_raw_extended_by_the_error() -> None:
    exc = MappingError("invoice", "in_1", "lines.0.item", "unmapped", Reason.UNMAPPED_ITEM,
                       raw={"amount": Decimal("1.50")})
    item = quarantine("invoice", exc, {"id": "in_1"}, location="row 3")
    assert (item.kind, item.external_id, item.reason, item.field, item.location) == (
        "invoice", "in_1", Reason.UNMAPPED_ITEM, "lines.0.item", "row 3")
    assert item.message == str(exc) and item.raw == {"id": "in_1", "amount": "1.50"}


def test_a_plain_record_error_is_an_invalid_record_and_the_id_can_be_given() -> None:
    item = quarantine("customer", RecordError("customer", None, "email", "bad"), None,
                      external_id="cus_1")
    assert (item.external_id, item.reason, item.raw) == ("cus_1", Reason.INVALID_RECORD, None)
    assert known_id(None, "?", "", "x") == "x" and known_id("?") is None
