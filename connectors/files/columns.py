"""The columns of the files connector's exports: the one definition of the file format.

The reader (``mapping.py``, ``connector.py``) keeps these fields of a row and the sample
generator (``connectors/files/sample/``) writes them, in this order; BEHAVIOR.md documents
them for users (required ones in bold there). A CSV may hold the columns in any order and
leave out optional ones; the order here is the one the generator writes.
"""

from __future__ import annotations

# record kind -> table: the file is TABLE.csv, or TABLE.jsonl for the first four kinds
# (lines and transactions are nested in invoices.jsonl)
TABLES: dict[str, str] = {
    "plan": "plans",
    "customer": "customers",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "line": "invoice_lines",
    "transaction": "transactions",
}
NESTED = {"line": "lines", "transaction": "transactions"}  # key inside an invoices.jsonl object
INVOICE_KEY = "invoice_external_id"  # a CSV line's or transaction's invoice

COLUMNS: dict[str, tuple[str, ...]] = {
    "plans": ("external_id", "name", "interval_unit", "interval_count", "updated_at"),
    "customers": (
        "external_id", "name", "email", "company", "country", "created_at",
        "account_status", "billing_cycle_enabled", "updated_at",
    ),
    "subscriptions": (
        "external_id", "customer_external_id", "plan_external_id", "status", "started_at",
        "cancelled_at", "paused_at", "current_period_end", "updated_at",
        "past_cancellation_dates",
    ),
    "invoices": (
        "external_id", "customer_external_id", "issued_at", "due_at", "currency", "status",
        "discount_amount", "discount_code", "updated_at",
    ),
    "invoice_lines": (
        INVOICE_KEY, "external_id", "kind", "subscription_external_id",
        "plan_external_id", "service_period_start", "service_period_end", "quantity",
        "prorated", "amount", "discount_amount", "tax_amount", "description",
    ),
    "transactions": (INVOICE_KEY, "external_id", "type", "result", "date", "amount"),
}  # fmt: skip

# A row without one of these is quarantined. (A subscription line also needs its
# subscription, plan and service period: SUBSCRIPTION_LINE_NEEDS in mapping.py.)
REQUIRED: dict[str, frozenset[str]] = {
    "plans": frozenset({"external_id", "name", "interval_unit"}),
    "customers": frozenset({"external_id"}),
    "subscriptions": frozenset({"external_id", "customer_external_id", "status"}),
    "invoices": frozenset({"external_id", "customer_external_id", "issued_at", "currency",
                           "status"}),
    "invoice_lines": frozenset({INVOICE_KEY, "kind", "amount"}),
    "transactions": frozenset({INVOICE_KEY, "type", "result", "date"}),
}  # fmt: skip

MONEY = ("amount", "discount_amount", "tax_amount")  # major units: "49.00", JPY "5000"
INTEGERS = frozenset({"quantity", "interval_count"})  # JSON numbers in JSON Lines


def fields(kind: str) -> frozenset[str]:
    """The fields of a record of ``kind`` the reader keeps (a line's or transaction's
    invoice is how the CSV joins it to its invoice, not a field of its own)."""
    return frozenset(COLUMNS[TABLES[kind]]) - {INVOICE_KEY}


def optional(table: str) -> tuple[str, ...]:
    """The columns of ``table`` a file may leave out, in order."""
    return tuple(c for c in COLUMNS[table] if c not in REQUIRED[table])
