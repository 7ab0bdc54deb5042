"""Mapping: what we send reads back equal from ChartMogul's recorded answers."""

from __future__ import annotations

import pytest

from saasync.destinations.chartmogul.client import (
    error_messages,
    error_text,
    is_duplicate,
    only_duplicates,
)
from saasync.destinations.chartmogul.mapping import (
    customer_from_api,
    customer_patch,
    describe,
    differences,
    invoice_doc,
    invoice_from_api,
)
from saasync.models import Customer
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from tests.destinations.chartmogul.cassettes import find
from tests.destinations.chartmogul.helpers import utc

PLAN = "pl_c92869ec-3c54-11ee-9275-73c5d5e48dff"


def test_recorded_import_answer_reads_back_equal_to_what_was_sent() -> None:
    """ChartMogul answers the lines in another order and echoes no subscription-line
    description; the comparable docs still match."""
    answer = find("go-invoices.yaml", "POST", "/import/customers/").response["invoices"][0]
    ours = OutInvoice(
        external_id="INV_to_be_retrieved", customer_external_id="ext_customer",
        date=utc(2023, 8, 16, 16, 48, 54), currency="EUR",
        lines=(
            OutLine(kind="subscription", amount=10000, quantity=10, external_id="ext_line_item",
                    subscription_external_id="ext_subscription", plan_external_id="ext_plan",
                    service_period_start=utc(2017, 5, 1), service_period_end=utc(2017, 5, 31),
                    description="Team plan, 10 seats"),
            OutLine(kind="one_time", amount=4500, quantity=2, description="fake_item"),
        ),
        transactions=(OutTransaction("payment", "successful", utc(2023, 8, 16, 19, 48, 54)),),
    )
    held = invoice_from_api(answer, "ext_customer", {PLAN: "ext_plan"}.get)
    assert invoice_doc(held) == invoice_doc(ours)
    assert [line.kind for line in held.lines] == ["one_time", "subscription"]


def test_recorded_customer_maps_blank_strings_to_none() -> None:
    raw = find("go-customers.yaml", "POST", "/customers").response
    customer = customer_from_api(raw)
    assert customer == Customer(external_id="TestImportCustomers_01", name="Test customer",
                                email="abc@123.com")
    assert customer_patch(customer.model_copy(update={"email": None, "country": "DE"}),
                          customer) == {"email": None, "country": "DE"}


@pytest.mark.parametrize(("body", "expected"), [
    ({"errors": {"name": "A name is required for each data source."}},
     {"name": ["A name is required for each data source."]}),
    ({"errors": {"currency": ["Currency is invalid"]}}, {"currency": ["Currency is invalid"]}),
    ({"name": ["Can't be blank"], "error_details": [{"param": "name", "code": "blank"}]},
     {"name": ["Can't be blank"]}),
    ({"code": 401, "message": "No valid API key provided", "param": None},
     {"": ["No valid API key provided"]}),
    ({"error": "Invoice not found"}, {"": ["Invoice not found"]}),
    ("500 Internal Server Error", {"": ["500 Internal Server Error"]}),
])
def test_every_error_body_shape_is_read(body: object, expected: dict[str, list[str]]) -> None:
    assert error_messages(body) == expected


def test_duplicate_messages_are_recognised_exactly() -> None:
    invoice = error_messages({"errors": {
        "external_id": "The external ID for this invoice already exists in our system.",
        "transactions.external_id": ["has already been taken"]}})
    assert is_duplicate(invoice, "invoice") and only_duplicates(invoice)
    assert not is_duplicate(invoice, "customer")
    mixed = {**invoice, "currency": ["Currency is invalid"]}
    assert not only_duplicates(mixed)
    assert error_text({"errors": mixed}).endswith("currency: Currency is invalid")


def test_differences_name_nested_fields() -> None:
    diffs = differences({"a": 1, "lines": [{"x": 1}, {"x": 2}]},
                        {"a": 1, "lines": [{"x": 1}, {"x": 3}]})
    assert diffs == [("lines[1].x", 2, 3)]
    assert describe(diffs) == "lines[1].x (ChartMogul: 2, ours: 3)"
    assert differences({"l": [1]}, {"l": [1, 2]}) == [("l", [1], [1, 2])]
