"""How the local store writes an invoice: validation, its rows, and the subscriptions it makes.

Apart from ``store_writer`` so that reads as the Destination contract (what each call
promises) while the row-level work lives here; the server uses it directly too. Every function runs inside the
caller's transaction; none commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from saasync.destinations.local.schema import to_text
from saasync.money import is_known_currency
from saasync.rules.changeset import OutInvoice, OutTransaction

# ChartMogul's messages (docs/chartmogul.md), so callers handle both destinations alike.
DUPLICATE_INVOICE = "external_id: The external ID for this invoice already exists in our system."
DUPLICATE_LINE = (
    "line_items.external_id: The external ID for this line item already exists in our system."
)
DUPLICATE_TRANSACTION = "transactions.external_id: has already been taken"

_INSERT_INVOICE = """
INSERT INTO invoices (id, uuid, data_source_id, customer_id, external_id, date, due_date,
    currency, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_INSERT_LINE = """
INSERT INTO line_items (uuid, invoice_id, data_source_id, position, type, subscription_id,
    plan_id, service_period_start, service_period_end, amount_in_cents, quantity,
    discount_amount_in_cents, tax_amount_in_cents, prorated, external_id, description)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_INSERT_TRANSACTION = """
INSERT INTO transactions (uuid, invoice_id, data_source_id, position, type, result, date,
    amount_in_cents, external_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""

# A subscription's plan is the plan of its latest line; voided invoices only as a last resort.
_REFRESH_PLAN = """
UPDATE subscriptions SET plan_id = (
    SELECT li.plan_id FROM line_items li JOIN invoices i ON i.id = li.invoice_id
    WHERE li.subscription_id = subscriptions.id
    ORDER BY i.status = 'voided', i.date DESC, li.service_period_start DESC, li.id DESC
    LIMIT 1)
WHERE id = ?"""

# Like ChartMogul's invoice delete (§5.5): a subscription with no line left disappears.
_DROP_ORPHAN = """
DELETE FROM subscriptions WHERE id = ?
AND NOT EXISTS (SELECT 1 FROM line_items WHERE subscription_id = subscriptions.id)"""

_SUBSCRIPTIONS_OF_INVOICE = """
SELECT DISTINCT subscription_id FROM line_items
WHERE invoice_id = ? AND subscription_id IS NOT NULL"""


def status_from(invoice: OutInvoice) -> str:
    """``open``/``paid`` are computed from transactions, as ChartMogul does (§5.4)."""
    paid = any(t.type == "payment" and t.result == "successful" for t in invoice.transactions)
    return "paid" if paid else "open"


def aware(values: Iterable[datetime | None]) -> bool:
    """Naive times would compare unequal to what the store reads back: refuse them."""
    return all(v is None or v.tzinfo is not None for v in values)


def _times(invoice: OutInvoice) -> list[datetime | None]:
    times: list[datetime | None] = [invoice.date, invoice.due_date]
    times += [
        t for line in invoice.lines for t in (line.service_period_start, line.service_period_end)
    ]
    return times + [t.date for t in invoice.transactions]


def invoice_problem(invoice: OutInvoice, plan_ids: Mapping[str, int]) -> str | None:
    """What ChartMogul's validation would refuse, in its ``field: message`` style."""
    if not invoice.lines:
        return "line_items: can't be blank"
    if not is_known_currency(invoice.currency):
        return f"currency: {invoice.currency!r} is not an ISO 4217 currency code"
    if not aware(_times(invoice)):
        return "date: times must be timezone-aware UTC"
    for line in invoice.lines:
        if line.kind not in ("subscription", "one_time"):
            return f"line_items.type: {line.kind!r} is not subscription or one_time"
        if line.kind == "subscription" and not (
            line.subscription_external_id and line.plan_external_id and line.service_period_start
        ):
            return (
                "line_items: a subscription line needs subscription_external_id, "
                "a plan and service_period_start"
            )
        if line.plan_external_id is not None and line.plan_external_id not in plan_ids:
            return f"line_items.plan_uuid: no plan with external_id {line.plan_external_id!r}"
    return None


class InvoiceWriter:
    """Writes invoices of one data source on the caller's connection and transaction."""

    def __init__(
        self, conn: sqlite3.Connection, ds_id: int, new_uuid: Callable[[str], str]
    ) -> None:
        self._conn = conn
        self._ds_id = ds_id
        self._new_uuid = new_uuid
        # While ``deferring`` (one import call): new invoices, their lines and transactions
        # are inserted together by ``write_held``, subscriptions get their plan once at the
        # end (``finish``) instead of once per invoice, and the ids found or made are kept.
        self.deferring = False
        self._stale: set[int] = set()
        self._sub_ids: dict[tuple[int, str], int] = {}
        self._next_id: int | None = None  # of the next new invoice, while deferring
        self._invoices: list[list[object]] = []
        self._lines: list[list[object]] = []
        self._transactions: list[list[object]] = []
        self._child_ids: dict[str, set[str]] = {"line_items": set(), "transactions": set()}

    def write_held(self) -> None:
        """Insert the invoices, lines and transactions held back while deferring."""
        self._conn.executemany(_INSERT_INVOICE, self._invoices)
        self._conn.executemany(_INSERT_LINE, self._lines)
        self._conn.executemany(_INSERT_TRANSACTION, self._transactions)
        self._invoices, self._lines, self._transactions = [], [], []
        for ids in self._child_ids.values():
            ids.clear()

    def finish(self) -> None:
        """The end of a deferring call: what is held back written, then every subscription
        written to gets the plan of its latest line."""
        self.write_held()
        self._conn.executemany(_REFRESH_PLAN, [[sub_id] for sub_id in sorted(self._stale)])
        self._stale.clear()

    def existing_invoices(self, external_ids: Sequence[str]) -> set[str]:
        """Which of these invoice external ids the data source holds (a query per 500)."""
        found: set[str] = set()
        for start in range(0, len(external_ids), 500):
            chunk = external_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                row[0]
                for row in self._conn.execute(
                    f"SELECT external_id FROM invoices WHERE data_source_id = ? "
                    f"AND external_id IN ({marks})",
                    [self._ds_id, *chunk],
                )
            )
        return found

    def plan_ids(self, invoices: Sequence[OutInvoice]) -> dict[str, int]:
        """Internal ids of the plans these invoices name (a query per 500, not per line)."""
        wanted = sorted(
            {
                line.plan_external_id
                for inv in invoices
                for line in inv.lines
                if line.plan_external_id
            }
        )
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._conn.execute(
                f"SELECT external_id, id FROM plans WHERE data_source_id = ? "
                f"AND external_id IN ({marks})",
                [self._ds_id, *chunk],
            ):
                found[row[0]] = int(row[1])
        return found

    def taken_child_ids(self, invoice: OutInvoice, own_invoice_id: int | None) -> str | None:
        """Line and transaction external ids are unique per data source, as in ChartMogul."""
        for table, ids, message in (
            ("line_items", [line.external_id for line in invoice.lines], DUPLICATE_LINE),
            ("transactions", [t.external_id for t in invoice.transactions], DUPLICATE_TRANSACTION),
        ):
            given = [i for i in ids if i]
            if len(given) != len(set(given)) or self._child_ids[table].intersection(given):
                return message  # twice in this invoice, or in one of this call not written yet
            for ext in given:
                row = self._conn.execute(
                    f"SELECT invoice_id FROM {table} WHERE data_source_id = ? AND external_id = ?",
                    [self._ds_id, ext],
                ).fetchone()
                if row is not None and row[0] != own_invoice_id:
                    return message
        return None

    def insert(self, customer_id: int, invoice: OutInvoice, plan_ids: Mapping[str, int]) -> str:
        """Store a new invoice with its lines and transactions; return its ``inv_…`` uuid."""
        uuid = self._new_uuid("inv")
        row = [uuid, self._ds_id, customer_id, invoice.external_id, to_text(invoice.date),
               to_text(invoice.due_date), invoice.currency, status_from(invoice)]  # fmt: skip
        if self.deferring:
            # the id SQLite would give (the largest + 1): the caller's write transaction
            # keeps every other writer out until ``write_held`` inserts it
            if self._next_id is None:
                found = self._conn.execute("SELECT max(id) FROM invoices").fetchone()[0]
                self._next_id = int(found or 0) + 1
            invoice_id, self._next_id = self._next_id, self._next_id + 1
            self._invoices.append([invoice_id, *row])
        else:
            cursor = self._conn.execute(_INSERT_INVOICE, [None, *row])
            assert cursor.lastrowid is not None
            invoice_id = cursor.lastrowid
        self._insert_children(invoice_id, customer_id, invoice, plan_ids)
        return uuid

    def rewrite(
        self, invoice_id: int, customer_id: int, invoice: OutInvoice, plan_ids: Mapping[str, int]
    ) -> None:
        """Replace an invoice's content in place: its uuid stays, its children are new."""
        old_subs = [int(r[0]) for r in self._conn.execute(_SUBSCRIPTIONS_OF_INVOICE, [invoice_id])]
        self._conn.execute("DELETE FROM line_items WHERE invoice_id = ?", [invoice_id])
        self._conn.execute("DELETE FROM transactions WHERE invoice_id = ?", [invoice_id])
        self._conn.execute(
            "UPDATE invoices SET customer_id = ?, date = ?, due_date = ?, currency = ?, "
            "status = ? WHERE id = ?",
            [customer_id, to_text(invoice.date), to_text(invoice.due_date), invoice.currency,
             status_from(invoice), invoice_id],
        )  # fmt: skip
        self._insert_children(invoice_id, customer_id, invoice, plan_ids)
        for sub_id in old_subs:
            self._conn.execute(_REFRESH_PLAN, [sub_id])
            self._conn.execute(_DROP_ORPHAN, [sub_id])

    def void(self, invoice_id: int) -> None:
        self._conn.execute("UPDATE invoices SET status = 'voided' WHERE id = ?", [invoice_id])
        subs = self._conn.execute(_SUBSCRIPTIONS_OF_INVOICE, [invoice_id]).fetchall()
        self._conn.executemany(_REFRESH_PLAN, [[r[0]] for r in subs])

    def delete(self, invoice_id: int) -> None:
        """Remove an invoice with its lines and transactions (ChartMogul §5.5): a
        subscription left without any line disappears, the others get their plan anew."""
        subs = [int(r[0]) for r in self._conn.execute(_SUBSCRIPTIONS_OF_INVOICE, [invoice_id])]
        self._conn.execute("DELETE FROM invoices WHERE id = ?", [invoice_id])
        for sub_id in subs:
            self._conn.execute(_REFRESH_PLAN, [sub_id])
            self._conn.execute(_DROP_ORPHAN, [sub_id])

    def append_transaction(self, invoice_id: int, transaction: OutTransaction) -> str:
        """Add a payment or refund to a stored invoice (§5.6); ``open``/``paid`` follow it,
        a voided invoice stays voided. The caller checks the external id is free."""
        row = self._conn.execute(
            "SELECT coalesce(max(position) + 1, 0) FROM transactions WHERE invoice_id = ?",
            [invoice_id],
        ).fetchone()
        uuid = self._new_uuid("tr")
        t = transaction
        self._conn.execute(
            _INSERT_TRANSACTION,
            [uuid, invoice_id, self._ds_id, int(row[0]), t.type, t.result, to_text(t.date),
             t.amount, t.external_id],
        )  # fmt: skip
        if t.type == "payment" and t.result == "successful":
            self._conn.execute(
                "UPDATE invoices SET status = 'paid' WHERE id = ? AND status = 'open'",
                [invoice_id],
            )
        return uuid

    def _subscription_id(self, customer_id: int, external_id: str) -> int:
        """The subscription a line belongs to, created by its first line (ChartMogul §6.1)."""
        key = (customer_id, external_id)
        if key not in self._sub_ids:
            self._sub_ids[key] = self._find_or_make_subscription(customer_id, external_id)
        return self._sub_ids[key]

    def _find_or_make_subscription(self, customer_id: int, external_id: str) -> int:
        row = self._conn.execute(
            "SELECT id FROM subscriptions WHERE data_source_id = ? AND customer_id = ? "
            "AND external_id = ?",
            [self._ds_id, customer_id, external_id],
        ).fetchone()
        if row is not None:
            return int(row[0])
        cursor = self._conn.execute(
            "INSERT INTO subscriptions (uuid, data_source_id, customer_id, external_id) "
            "VALUES (?, ?, ?, ?)",
            [self._new_uuid("sub"), self._ds_id, customer_id, external_id],
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _insert_children(
        self, invoice_id: int, customer_id: int, invoice: OutInvoice, plan_ids: Mapping[str, int]
    ) -> None:
        subs: dict[str, int] = {}
        for line in invoice.lines:
            sub = line.subscription_external_id
            if line.kind == "subscription" and sub and sub not in subs:
                subs[sub] = self._subscription_id(customer_id, sub)
        lines: list[list[object]] = [
                [self._new_uuid("li"), invoice_id, self._ds_id, position, line.kind,
                 subs.get(line.subscription_external_id or "") if line.kind == "subscription"
                 else None,
                 plan_ids.get(line.plan_external_id or ""), to_text(line.service_period_start),
                 to_text(line.service_period_end), line.amount, line.quantity,
                 line.discount_amount, line.tax_amount, int(line.prorated), line.external_id,
                 line.description]
                for position, line in enumerate(invoice.lines)
        ]  # fmt: skip
        transactions: list[list[object]] = [
                [self._new_uuid("tr"), invoice_id, self._ds_id, position, t.type, t.result,
                 to_text(t.date), t.amount, t.external_id]
                for position, t in enumerate(invoice.transactions)
        ]  # fmt: skip
        if self.deferring:
            self._lines += lines
            self._transactions += transactions
            self._child_ids["line_items"].update(li.external_id for li in invoice.lines
                                                 if li.external_id)
            self._child_ids["transactions"].update(t.external_id for t in invoice.transactions
                                                   if t.external_id)
            self._stale.update(subs.values())
            return
        self._conn.executemany(_INSERT_LINE, lines)
        self._conn.executemany(_INSERT_TRANSACTION, transactions)
        self._conn.executemany(_REFRESH_PLAN, [[sub_id] for sub_id in subs.values()])
