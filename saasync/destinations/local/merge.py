"""Adding stores written apart into one: the local store's side of ``saasync.split``.

Each part is a store file one process of a split sync wrote on its own, holding the
same data source (same id and uuid) and customers no other part holds. Its rows are
copied into the main store in SQL, part after part, in one transaction: internal ids
are shifted past those the main store holds (so they stay unique and in creation order),
uuids are kept (the pushed map names them), and a plan every part holds is kept once,
from the first part that has it, the others' lines and subscriptions pointing at it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from saasync.errors import SaasyncError

# Per table, the columns whose values change on the way in; ``{x}`` is the shift of the
# ids of table x, ``plan`` the main store's id of the part's plan. None: a new id.
_SHIFTED: dict[str, dict[str, str | None]] = {
    "customers": {"id": "id + {customers}"},
    "subscriptions": {"id": "id + {subscriptions}", "customer_id": "customer_id + {customers}",
                      "plan_id": "{plan}"},
    "invoices": {"id": "id + {invoices}", "customer_id": "customer_id + {customers}"},
    "line_items": {"id": None, "invoice_id": "invoice_id + {invoices}",
                   "subscription_id": "subscription_id + {subscriptions}", "plan_id": "{plan}"},
    "transactions": {"id": None, "invoice_id": "invoice_id + {invoices}"},
}
_PLAN = "(SELECT main_id FROM temp.plan_map WHERE part_id = plan_id)"


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA main.table_info({table})")]


def _shift(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT coalesce(max(id), 0) FROM main.{table}").fetchone()[0])


def _copy(conn: sqlite3.Connection, part: str, table: str, shifts: dict[str, str]) -> None:
    """Every row of ``part.table`` into ``main.table``, in the part's id order."""
    names, values = [], []
    for column in _columns(conn, table):
        change = _SHIFTED[table].get(column, column)
        if change is None:
            continue  # a new id, given by SQLite in insertion order
        names.append(column)
        values.append(change.format(plan=_PLAN, **shifts))
    conn.execute(f"INSERT INTO main.{table} ({', '.join(names)}) "
                 f"SELECT {', '.join(values)} FROM {part}.{table} ORDER BY id")


def _plans(conn: sqlite3.Connection, part: str, data_source_id: int) -> None:
    """The part's plans the main store lacks (kept with their uuid), and ``temp.plan_map``:
    the part's plan id → the main store's."""
    columns = [c for c in _columns(conn, "plans") if c != "id"]
    conn.execute(
        f"INSERT INTO main.plans ({', '.join(columns)}) "
        f"SELECT {', '.join('p.' + c for c in columns)} FROM {part}.plans p "
        "WHERE NOT EXISTS (SELECT 1 FROM main.plans m WHERE m.data_source_id = p.data_source_id "
        "AND m.external_id = p.external_id) ORDER BY p.id")
    conn.execute("DELETE FROM temp.plan_map")
    conn.execute(
        f"INSERT INTO temp.plan_map SELECT p.id, m.id FROM {part}.plans p JOIN main.plans m "
        "ON m.data_source_id = ? AND m.external_id = p.external_id", [data_source_id])


def merge_parts(conn: sqlite3.Connection, data_source_id: int, parts: Sequence[Path]) -> None:
    """Copy every part into the main store on ``conn`` (autocommit, as the store opens it),
    in one transaction. A part holding another data source, or a row the main store holds
    already, fails the whole merge and leaves the main store as it was."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS plan_map "
                 "(part_id INTEGER PRIMARY KEY, main_id INTEGER NOT NULL)")
    names = [f"part{index}" for index in range(len(parts))]
    attached: list[str] = []
    try:
        for name, path in zip(names, parts, strict=True):
            conn.execute("ATTACH DATABASE ? AS " + name, [str(path)])  # not in a transaction
            attached.append(name)
            held = {int(row[0]) for row in conn.execute(
                f"SELECT DISTINCT data_source_id FROM {name}.customers")}
            if held - {data_source_id}:
                raise SaasyncError(f"{path}: holds another data source than the one synced")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                shifts = {t: str(_shift(conn, t)) for t in ("customers", "subscriptions",
                                                           "invoices")}
                _plans(conn, name, data_source_id)
                for table in ("customers", "subscriptions", "invoices", "line_items",
                              "transactions"):
                    _copy(conn, name, table, shifts)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        for name in attached:
            conn.execute("DETACH DATABASE " + name)


def source_is_empty(conn: sqlite3.Connection, name: str) -> bool:
    """The store holds no data source ``name``, or one with no customer, plan or invoice."""
    row = conn.execute("SELECT id FROM data_sources WHERE name = ?", [name.strip()]).fetchone()
    if row is None:
        return True
    return not any(conn.execute(f"SELECT 1 FROM {table} WHERE data_source_id = ? LIMIT 1",
                                [row[0]]).fetchone()
                   for table in ("customers", "plans", "invoices"))
