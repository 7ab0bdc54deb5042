"""Standing fuzz test (issue #15): no value in a source row ends a run.

Generated rows (extreme numbers, dates, deep nesting, encodings, control characters) go
through every format of the files connector, and generated variants of valid vendor objects
through every API connector's mapping functions. Each row must come out as a record or a
quarantine, the counts must add up, and nothing else may escape. Bounded and derandomized,
so CI runs the same examples every time, in seconds.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.models import RecordError
from saasync_connectors.files.columns import COLUMNS
from saasync_connectors.files.connector import FilesConnector

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# -- hostile values ---------------------------------------------------------------------

EXTREME_TEXT = [
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "99999999999999999999",
    "-99999999999999999999", "99999999999999999999.00", "1E+30", "1E+999999", "-1E+999999",
    "1E-999999", "NaN", "Infinity", "-0", "0", "2026-11-01 09:30 PST", "31/10/2026",
    "2026-02-30", "9" * 5000, "2026-11-01T09:30:00+99:00", "\x00", "\r", "\u2028", "\ufeff",
    " ", "", "true", "Monday", "/Date(99999999999999999999)/", "0000-00-00",
]  # fmt: skip
text = st.one_of(
    st.sampled_from(EXTREME_TEXT),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.text(alphabet="\x00\x01\x1b\r\n\t\"',;{}[]:\\\u2028\u0a0a\ufffd", max_size=12),
)
numbers = st.one_of(
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30, 10**400]),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("1E+999999"), Decimal("-1E+999999"), Decimal("1E-999999")]),
    st.floats(), st.booleans(),
)
scalars = st.one_of(st.none(), text, numbers)


def nested(depth: int) -> Any:
    """A value nested ``depth`` levels deep (lists and objects alternating)."""
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
    st.sampled_from([5, 40, 300]).map(nested),
)


def read_all(directory: Path, encoding: str) -> list[Any]:
    connector = FilesConnector({"path": str(directory), "encoding": encoding}, ConnectorContext())
    return list(connector.read(ReadWindow()))


# -- the files connector: every format ---------------------------------------------------

TABLES = ("plans", "customers", "subscriptions", "invoices")
VALID = {
    "plans": {"external_id": "pl_1", "name": "Monthly", "interval_unit": "month", "interval_count": "1"},
    "customers": {"external_id": "cus_1", "name": "Ada", "created_at": "2026-01-05T10:00:00Z"},
    "subscriptions": {"external_id": "sub_1", "customer_external_id": "cus_1",
                      "plan_external_id": "pl_1", "status": "active", "started_at": "2026-02-01"},
    "invoices": {"external_id": "inv_1", "customer_external_id": "cus_1", "issued_at": "2026-02-01",
                 "currency": "USD", "status": "paid"},
    "invoice_lines": {"invoice_external_id": "inv_1", "external_id": "li_1", "kind": "subscription",
                      "subscription_external_id": "sub_1", "plan_external_id": "pl_1",
                      "service_period_start": "2026-02-01", "service_period_end": "2026-03-01",
                      "quantity": "1", "amount": "49.00"},
    "transactions": {"invoice_external_id": "inv_1", "external_id": "tx_1", "type": "payment",
                     "result": "successful", "date": "2026-02-01T00:05:00Z", "amount": "49.00"},
}  # fmt: skip


@st.composite
def rows(draw: st.DrawFn, table: str) -> dict[str, Any]:
    """A valid row of ``table`` with a few of its fields replaced by hostile values."""
    row: dict[str, Any] = dict(VALID[table])
    for column in draw(st.lists(st.sampled_from(COLUMNS[table]), max_size=3, unique=True)):
        row[column] = draw(values)
    row["external_id"] = draw(st.sampled_from(["x_1", "x_2", "x_3"])) if draw(st.booleans()) \
        else row.get("external_id")
    return row


def csv_text(table: str, data: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS[table], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in data:
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v, default=str) if
                         not isinstance(v, (int, Decimal)) else str(v) for k, v in row.items()})
    return out.getvalue()


ENCODINGS = st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-32-le"])


@FUZZ
@given(tables=st.fixed_dictionaries({t: st.lists(rows(t), min_size=1, max_size=4) for t in TABLES}),
       lines=st.lists(rows("invoice_lines"), max_size=4),
       payments=st.lists(rows("transactions"), max_size=2), encoding=ENCODINGS)
def test_generated_csv_rows_are_records_or_quarantined(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, list[dict[str, Any]]],
    lines: list[dict[str, Any]], payments: list[dict[str, Any]], encoding: str,
) -> None:
    directory = tmp_path_factory.mktemp("csv")
    for table, data in {**tables, "invoice_lines": lines, "transactions": payments}.items():
        text_ = csv_text(table, data)
        (directory / f"{table}.csv").write_bytes(text_.encode(encoding, errors="replace"))
    items = read_all(directory, encoding)  # never raises
    records = [i for i in items if not isinstance(i, Quarantined)]
    problems = [i for i in items if isinstance(i, Quarantined)]
    assert all(q.reason and q.message for q in problems)
    # a quoted CSV field may hold newlines, so a row with an odd quote may merge with the
    # next ones: never more items than rows, and every item is one or the other
    rows_written = sum(len(v) for v in tables.values()) + len(lines) + len(payments)
    assert 0 < len(records) + len(problems) <= rows_written


@st.composite
def json_lines(draw: st.DrawFn, table: str) -> bytes:
    row = draw(rows(table))
    if table == "invoices":
        row["lines"] = draw(st.one_of(
            st.lists(rows("invoice_lines"), min_size=1, max_size=2), values))
        row["transactions"] = draw(st.one_of(st.lists(rows("transactions"), max_size=2), values))
    line = json.dumps(row, default=str, allow_nan=True)
    if draw(st.integers(0, 9)) == 0:  # a raw JSON spelling json.dumps never writes
        line = line[:-1] + ', "amount": ' + draw(st.sampled_from(
            ["1E+999999", "-1E+999999", "9" * 5000, "[" * 5000 + "]" * 5000, "NaN"])) + "}"
    return line.encode("utf-8")


@FUZZ
@given(tables=st.fixed_dictionaries({t: st.lists(json_lines(t), min_size=1, max_size=4) for t in TABLES}),
       encoding=ENCODINGS, garbage=st.binary(max_size=20))
def test_generated_json_lines_are_records_or_quarantined(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, list[bytes]], encoding: str,
    garbage: bytes,
) -> None:
    directory = tmp_path_factory.mktemp("jsonl")
    written = 0
    for table, data in tables.items():
        body = b"\n".join(data)
        text_ = body.decode("utf-8").encode(encoding, errors="replace")
        if table == "customers" and b"\n" not in garbage and garbage.strip():
            text_ += "\n".encode(encoding) + garbage  # a last line of raw bytes
            written += 1
        (directory / f"{table}.jsonl").write_bytes(text_)
        written += len(data)
    items = read_all(directory, encoding)
    problems = [i for i in items if isinstance(i, Quarantined)]
    assert all(q.reason and q.message for q in problems)
    assert 0 < len(items) <= written  # a line of bytes may decode to blank: skipped


# -- every API connector's mapping functions ---------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            found += _paths(value, (*prefix, index))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


Case = tuple[str, Callable[[], Any], Callable[[Any], Any], tuple[type[BaseException], ...]]


def _cases() -> list[Case]:
    from saasync_connectors.accounting.records import MappingError as AccountingError
    from saasync_connectors.chargebee import mapping as chargebee
    from saasync_connectors.gaiia import mapping as gaiia
    from saasync_connectors.quickbooks import mapping as quickbooks
    from saasync_connectors.recurly import mapping as recurly
    from saasync_connectors.stripe import mapping as stripe
    from saasync_connectors.xero import mapping as xero
    from tests.connectors.chargebee.test_mapping import obj as chargebee_obj
    from tests.connectors.gaiia.fake_api import load_dataset
    from tests.connectors.quickbooks import test_mapping as qbo
    from tests.connectors.recurly.support import obj as recurly_obj
    from tests.connectors.stripe.test_mapping import account, load
    from tests.connectors.xero import test_mapping as xro

    gaiia_data = load_dataset()
    stripe_inv = load("invoice_basil.json")
    return [
        ("stripe customer", lambda: account("customers", account_id("customers")),
         stripe.to_customer, (RecordError,)),
        ("stripe subscription", lambda: load("subscription_basil.json"),
         stripe.to_subscription, (RecordError,)),
        ("stripe invoice", lambda: copy.deepcopy(stripe_inv),
         lambda raw: stripe.to_invoice(raw, (raw.get("lines") or {}).get("data") or []
                                       if isinstance(raw.get("lines"), dict) else []),
         (RecordError,)),
        ("chargebee customer", lambda: chargebee_obj("customer"), chargebee.to_customer,
         (chargebee.MappingError,)),
        ("chargebee subscription", lambda: chargebee_obj("subscription"),
         chargebee.to_subscription, (chargebee.MappingError,)),
        ("chargebee invoice", lambda: chargebee_obj("invoice"),
         lambda raw: chargebee.to_invoice(raw, [chargebee_obj("credit_note")]),
         (chargebee.MappingError,)),
        ("recurly account", lambda: copy.deepcopy(_first(recurly_obj, "accounts")),
         recurly.to_customer, (recurly.MappingError,)),
        ("recurly subscription", lambda: copy.deepcopy(_first(recurly_obj, "subscriptions")),
         recurly.to_subscription, (recurly.MappingError,)),
        ("recurly invoice", lambda: copy.deepcopy(_first(recurly_obj, "invoices")),
         recurly.to_invoice, (recurly.MappingError,)),
        ("gaiia account", lambda: copy.deepcopy(gaiia_data["accounts"][0]), gaiia.to_customer,
         (gaiia.MappingError,)),
        ("gaiia subscription", lambda: copy.deepcopy(gaiia_data["billingSubscriptions"][0]),
         gaiia.to_subscription, (gaiia.MappingError,)),
        ("gaiia invoice", lambda: copy.deepcopy(gaiia_data["invoices"][0]), gaiia.to_invoice,
         (gaiia.MappingError,)),
        ("quickbooks customer", lambda: copy.deepcopy(qbo.COMPANY["Customer"][0]),
         quickbooks.to_customer, (AccountingError,)),
        ("quickbooks invoice", lambda: qbo.raw("130"), lambda raw: qbo.mapped(raw),
         (AccountingError,)),
        ("xero contact", lambda: copy.deepcopy(xro.ORG["Contacts"][0]), xero.to_customer,
         (AccountingError,)),
        ("xero invoice", lambda: copy.deepcopy(xro.ORG["Invoices"][0]), lambda raw: xro.mapped(raw),
         (AccountingError,)),
    ]


def account_id(kind: str) -> str:
    from tests.connectors.stripe.test_mapping import load

    return str(load("fake_account.json")[kind][0]["id"])


def _first(obj: Callable[[str, str], dict[str, Any]], collection: str) -> dict[str, Any]:
    from tests.connectors.recurly.support import all_of

    return obj(collection, all_of(collection)[0]["id"])


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_valid_vendor_objects_map(case: Case) -> None:
    """The objects the fuzzing starts from map cleanly (so a variant that fails is the value)."""
    _name, make, build, _expected = case
    build(make())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_generated_vendor_variants_are_records_or_mapping_errors(case: Case, data: st.DataObject) -> None:
    _name, make, build, expected = case
    raw = make()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(raw)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        _replace(raw, path, data.draw(values))
    try:
        build(raw)
    except expected as exc:  # what the connector's stream quarantines, naming the field
        assert str(exc)
