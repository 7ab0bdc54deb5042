"""The local store's SQLite schema, its migrations, opening a file, and the timestamp codec.

Kept apart so the store's parts hold behaviour only, and so ``saasync serve`` can reuse
the codec without importing the write path.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from datetime import UTC, datetime
from functools import lru_cache

from saasync.sqlite_files import Migration, migrate, prepare_private, unusable

WHAT = "destination.path"  # the setting that names the file, for messages

# Fixed width and microsecond precision: text order is time order, and a stored invoice
# reads back equal to the one imported (the idempotency check compares them whole).
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

DDL = """
CREATE TABLE IF NOT EXISTS data_sources (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    company TEXT,
    country TEXT,
    created_at TEXT,
    UNIQUE (data_source_id, external_id)
);
CREATE TABLE IF NOT EXISTS plans (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    interval_unit TEXT NOT NULL CHECK (interval_unit IN ('day', 'week', 'month', 'year')),
    interval_count INTEGER NOT NULL CHECK (interval_count > 0),
    UNIQUE (data_source_id, external_id)
);
CREATE TABLE IF NOT EXISTS invoices (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    date TEXT NOT NULL,
    due_date TEXT,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'voided')),
    UNIQUE (data_source_id, external_id)
);
CREATE INDEX IF NOT EXISTS invoices_customer ON invoices (customer_id, date);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    plan_id INTEGER REFERENCES plans(id),
    cancellation_dates TEXT NOT NULL DEFAULT '[]',
    UNIQUE (data_source_id, customer_id, external_id)
);
CREATE INDEX IF NOT EXISTS subscriptions_customer ON subscriptions (customer_id);
CREATE TABLE IF NOT EXISTS line_items (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    invoice_id INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    data_source_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('subscription', 'one_time')),
    subscription_id INTEGER REFERENCES subscriptions(id),
    plan_id INTEGER REFERENCES plans(id),
    service_period_start TEXT,
    service_period_end TEXT,
    amount_in_cents INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    discount_amount_in_cents INTEGER NOT NULL,
    tax_amount_in_cents INTEGER NOT NULL,
    prorated INTEGER NOT NULL,
    external_id TEXT,
    description TEXT
);
CREATE INDEX IF NOT EXISTS line_items_invoice ON line_items (invoice_id, position);
CREATE INDEX IF NOT EXISTS line_items_subscription ON line_items (subscription_id);
CREATE UNIQUE INDEX IF NOT EXISTS line_items_external_id
    ON line_items (data_source_id, external_id) WHERE external_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    invoice_id INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    data_source_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('payment', 'refund')),
    result TEXT NOT NULL CHECK (result IN ('successful', 'failed')),
    date TEXT NOT NULL,
    amount_in_cents INTEGER,
    external_id TEXT
);
CREATE INDEX IF NOT EXISTS transactions_invoice ON transactions (invoice_id, position);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_external_id
    ON transactions (data_source_id, external_id) WHERE external_id IS NOT NULL;
"""


# Read queries: ``{filters}`` may use the aliases i (invoices) and c (customers).
SELECT_INVOICES = """
SELECT i.id, i.uuid, i.external_id, i.date, i.due_date, i.currency, i.status,
       c.uuid AS customer_uuid, c.external_id AS customer_external_id
FROM invoices i JOIN customers c ON c.id = i.customer_id
WHERE i.data_source_id = ?{filters}
ORDER BY i.id{limit}"""

SELECT_LINES = """
SELECT li.*, s.uuid AS sub_uuid, s.external_id AS sub_ext, p.uuid AS plan_uuid,
       p.external_id AS plan_ext
FROM line_items li JOIN invoices i ON i.id = li.invoice_id
JOIN customers c ON c.id = i.customer_id
LEFT JOIN subscriptions s ON s.id = li.subscription_id
LEFT JOIN plans p ON p.id = li.plan_id
WHERE i.data_source_id = ?{filters} AND i.id BETWEEN ? AND ?
ORDER BY li.invoice_id, li.position"""

SELECT_TRANSACTIONS = """
SELECT t.* FROM transactions t JOIN invoices i ON i.id = t.invoice_id
JOIN customers c ON c.id = i.customer_id
WHERE i.data_source_id = ?{filters} AND i.id BETWEEN ? AND ?
ORDER BY t.invoice_id, t.position"""

SELECT_SUBSCRIPTIONS = """
SELECT s.id, s.uuid, s.external_id, s.cancellation_dates, c.uuid AS customer_uuid,
       c.external_id AS customer_external_id, p.uuid AS plan_uuid, p.external_id AS plan_ext
FROM subscriptions s JOIN customers c ON c.id = s.customer_id
LEFT JOIN plans p ON p.id = s.plan_id
WHERE s.data_source_id = ?{filters}
ORDER BY s.id{limit}"""


#: Ordered schema steps (``PRAGMA user_version``; the rules are in ``saasync.state``): entry
#: i turns version i into version i + 1. Append new steps at the end, one line each.
MIGRATIONS: tuple[Migration, ...] = (
    DDL,  # 1: the original tables
)
SCHEMA_VERSION = len(MIGRATIONS)


def open_database(path: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Connect, tune for bulk loading, and create, upgrade or check the schema.

    Autocommit mode (``isolation_level=None``): the store opens its own transactions, so
    one call is one transaction and nothing is committed behind its back.
    ``check_same_thread=False`` lets a multi-threaded caller (``saasync serve``) share the
    connection; it must then serialise every call itself. A new file is created 0600; a
    file from a newer saasync is refused; a file that is up to date is not written.
    """
    if path != ":memory:":
        prepare_private(path, WHAT)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    except sqlite3.Error as exc:
        raise unusable(exc, path, WHAT) or exc from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")  # answers "memory" for ":memory:"; harmless
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL, much faster
        # 32 MiB of page cache: a backfill's hot index pages stay in memory
        conn.execute("PRAGMA cache_size = -32768")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, MIGRATIONS, path, WHAT)
    except sqlite3.Error as exc:
        conn.close()
        raise unusable(exc, path, WHAT) or exc from None
    except BaseException:
        conn.close()
        raise
    return conn


class OrderedUuids:
    """ChartMogul-style ids (``inv_…``) in UUID version 7's layout (RFC 9562): the time in
    milliseconds, then a counter, then 42 random bits drawn once per instance.

    Unique like random ones (two instances share an id only if they draw the same 42 bits
    and reach the same count in the same millisecond), but in creation order, so each new
    row's ``uuid`` index entry goes at the end of the index instead of into a random page:
    a backfill writes a few index pages per batch, not one per row. One instance per open
    store; not shared between threads without the caller's lock (the store's callers hold
    one)."""

    def __init__(self) -> None:
        self._node = secrets.randbits(42)
        self._count = secrets.randbits(20)  # where this instance's sequence starts

    def __call__(self, prefix: str) -> str:
        self._count = (self._count + 1) & 0xFFFFFFFF
        ms = time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF
        count = self._count
        # ms(48) | version 7 (4) | count high 12 | variant 0b10 (2) | count low 20 | node 42
        value = (
            ms << 80
            | 0x7 << 76
            | (count >> 20) << 64
            | 0b10 << 62
            | (count & 0xFFFFF) << 42
            | self._node
        )
        h = f"{value:032x}"
        return f"{prefix}_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_text(value: datetime | None) -> str | None:
    """Store a datetime as fixed-width UTC text (naive values are taken as UTC)."""
    return None if value is None else _to_text(value)


@lru_cache(maxsize=8192)  # a backfill's invoices share few distinct dates
def _to_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def from_text(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def from_text_required(text: str) -> datetime:
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def api_time(value: datetime | None) -> str | None:
    """ChartMogul's response format: milliseconds and a ``Z``."""
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        if value
        else None
    )
