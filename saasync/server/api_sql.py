"""What the parts of the server's store (``ApiStore``) share: the tables for API-only
fields, a page of rows, and the SQL helpers over the local store's open file.

The API keeps the fields ChartMogul has that the sync model has no use for (a customer's
city and tags, a line's discount code, a ``written_off`` status, bulk-import reports) as
JSON in ``api_*`` tables, created on open and removed with their row by
``ON DELETE CASCADE``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from saasync.destinations.local.database import Database

T = TypeVar("T")

API_DDL = """
CREATE TABLE IF NOT EXISTS api_customer_extras (
    customer_id INTEGER PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_invoice_extras (
    invoice_id INTEGER PRIMARY KEY REFERENCES invoices(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_line_extras (
    line_item_id INTEGER PRIMARY KEY REFERENCES line_items(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_transaction_extras (
    transaction_id INTEGER PRIMARY KEY REFERENCES transactions(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_data_source_settings (
    data_source_id INTEGER PRIMARY KEY REFERENCES data_sources(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_json_imports (
    id TEXT PRIMARY KEY,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One cursor page: the rows after the cursor, whether more follow, and the total."""

    items: list[T]
    has_more: bool
    total: int


@dataclass(frozen=True)
class InvoiceExtras:
    """API-only fields of one invoice, its lines (by line uuid) and transactions (by uuid)."""

    invoice: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)


def where_clause(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``AND column = ?`` for each filter that is set (column names are ours, never input)."""
    given = {column: value for column, value in filters.items() if value is not None}
    return "".join(f" AND {column} = ?" for column in given), list(given.values())


def marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def page_of(rows: list[T], limit: int, total: int) -> Page[T]:
    """``rows`` fetched ``limit + 1`` at a time: the page, and whether more follow."""
    return Page(rows[:limit], len(rows) > limit, total)


class Sql:
    """The local store's open file (``db``) as the API parts use it: counts, paged
    selects and JSON documents keyed by row id."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.conn.executescript(API_DDL)

    def count(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])

    def after(self, base: str, params: Sequence[Any], key: str, after_id: int | None,
              limit: int) -> list[sqlite3.Row]:
        """``limit + 1`` rows of ``base`` with ``key`` above ``after_id``, by ``key``."""
        after = f" AND {key} > ?" if after_id is not None else ""
        return self.conn.execute(
            f"{base}{after} ORDER BY {key} LIMIT ?",
            [*params, *([after_id] if after_id is not None else []), limit + 1],
        ).fetchall()

    def docs(self, table: str, key: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT {key}, doc FROM {table} WHERE {key} IN ({marks(ids)})", list(ids)
        )
        return {int(row_id): json.loads(doc) for row_id, doc in rows}
