"""Run state in SQLite: cursors, the source mirror, what was pushed, run history, review queue, locks.

Why a source mirror: the subscription builder needs a customer's whole history, but an
incremental run reads only what changed. The mirror keeps the latest normalized version
of every record, so a run rebuilds each touched customer from its full history.

Why a pushed map: external id → destination id and content hash. A record whose hash
matches what the destination accepted is not sent again; the map is written only after
the destination accepted the data, so a crash leaves at worst a record to resend (and
resending is idempotent by external id).

A dry run opens the file read-only (or not at all): it writes nothing, anywhere. (One
exception: a file from an older saasync gets its schema upgraded first, see ``MIGRATIONS``.)

Schema versions: ``PRAGMA user_version`` counts the steps of ``MIGRATIONS`` applied. To
change the schema, append one step (SQL or a function of the connection) to the end of
``MIGRATIONS``; never edit or reorder a step that has been released. A file written by a
newer saasync is refused, not misread. Opening, privacy (0600) and damage reports live in
``saasync.sqlite_files``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from saasync.errors import LockedError
from saasync.item_mapping import ItemMapping
from saasync.sqlite_files import (
    Migration,
    check_not_newer,
    migrate,
    prepare_private,
    unusable,
    user_version,
)

#: The tables as they were before the schema had a version (files without a user_version
#: are version 0 and hold these; ``CREATE ... IF NOT EXISTS`` leaves them as they are).
SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS cursors (
  connection TEXT NOT NULL, stream TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (connection, stream));
CREATE TABLE IF NOT EXISTS source_records (
  connection TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL,
  customer_external_id TEXT, doc TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (connection, kind, external_id));
CREATE INDEX IF NOT EXISTS source_by_customer ON source_records (connection, customer_external_id);
CREATE TABLE IF NOT EXISTS dirty_customers (
  connection TEXT NOT NULL, customer_external_id TEXT NOT NULL,
  PRIMARY KEY (connection, customer_external_id));
CREATE TABLE IF NOT EXISTS pushed (
  connection TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL,
  destination_id TEXT, hash TEXT NOT NULL, pushed_at TEXT NOT NULL,
  PRIMARY KEY (connection, kind, external_id));
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, connection TEXT NOT NULL, mode TEXT NOT NULL,
  dry_run INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
  report TEXT);
CREATE TABLE IF NOT EXISTS review (
  connection TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT,
  customer_external_id TEXT, reason TEXT NOT NULL, field TEXT, message TEXT NOT NULL,
  location TEXT, raw TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
  PRIMARY KEY (connection, key));
CREATE TABLE IF NOT EXISTS tokens (
  connection TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS item_mappings (
  connection TEXT NOT NULL, item TEXT NOT NULL, doc TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (connection, item));
CREATE TABLE IF NOT EXISTS locks (
  connection TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
  acquired_at TEXT NOT NULL);
"""

#: Cancellations that took effect (kept when the source reactivates a subscription and
#: forgets them) and customers to look at again when a dated rule comes due.
CANCELLATION_HISTORY = """
CREATE TABLE IF NOT EXISTS cancellation_history (
  connection TEXT NOT NULL, subscription_external_id TEXT NOT NULL,
  customer_external_id TEXT NOT NULL, cancelled_at TEXT NOT NULL,
  PRIMARY KEY (connection, subscription_external_id, cancelled_at));
CREATE INDEX IF NOT EXISTS cancellation_history_by_customer
  ON cancellation_history (connection, customer_external_id);
CREATE TABLE IF NOT EXISTS rechecks (
  connection TEXT NOT NULL, customer_external_id TEXT NOT NULL, due_at TEXT NOT NULL,
  PRIMARY KEY (connection, customer_external_id));
"""

BULK_IMPORTS = """
CREATE TABLE IF NOT EXISTS bulk_imports (
  connection TEXT NOT NULL, import_id TEXT NOT NULL, data_source_uuid TEXT NOT NULL,
  manifest TEXT NOT NULL, accepted_at TEXT NOT NULL,
  PRIMARY KEY (connection, import_id));
"""

#: Ordered schema steps: entry i turns version i into version i + 1, in one transaction.
#: Append new steps at the end, one line each, e.g.
#:     "ALTER TABLE source_records ADD COLUMN cancelled_at TEXT",  # 2: ...
MIGRATIONS: tuple[Migration, ...] = (
    SCHEMA_V0,  # 1: the original tables
    CANCELLATION_HISTORY,  # 2: cancellation history and re-checks
    BULK_IMPORTS,  # 3: bulk imports ChartMogul accepted and a run has not settled yet
)
SCHEMA_VERSION = len(MIGRATIONS)
WHAT = "state"  # the setting that names the file, for messages


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ReviewItem:
    key: str
    kind: str
    external_id: str | None
    customer_external_id: str | None
    reason: str
    field: str | None
    message: str
    location: str | None
    raw: dict[str, Any] | None
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class RunRow:
    id: int
    connection: str
    mode: str
    dry_run: bool
    started_at: str
    finished_at: str | None
    status: str
    report: dict[str, Any] | None


class StateStore:
    """Everything saasync remembers between runs, for every connection, in one SQLite file."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if read_only and self.path != ":memory:":
            prepare_private(self.path, WHAT, create=False)
        if self.path == ":memory:" or (read_only and not Path(self.path).exists()):
            # nothing stored yet: an empty in-memory state reads the same
            self.db = sqlite3.connect(":memory:")
            migrate(self.db, MIGRATIONS, ":memory:", WHAT)
        elif read_only:
            self.db = _open_read_only(Path(self.path))
        else:
            prepare_private(self.path, WHAT)
            self.db = _open(self.path, upgrade=True)
        self.db.row_factory = sqlite3.Row
        self._last_commit = time.monotonic()
        #: Called right before every commit: a sync sets it to its destination's
        #: ``commit_held``, so the pushed map never records what the destination could lose.
        self.before_commit: Callable[[], None] | None = None

    def close(self) -> None:
        if not self.read_only and self.db.in_transaction:
            self._commit_now()
        self.db.close()

    def _commit_now(self) -> None:
        if self.before_commit is not None:
            self.before_commit()
        self.db.commit()

    @contextmanager
    def _committing(self) -> Iterator[None]:
        """Like ``with self.db``: commit at the end of the block (``before_commit`` first),
        roll back on error."""
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self._commit_now()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _has_table(self, name: str) -> bool:
        """A state file written by an older saasync and opened read-only may lack newer tables."""
        return self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone() is not None

    def _write(self) -> None:
        if self.read_only:
            raise RuntimeError("state opened read-only (dry run): refusing to write")

    # -- cursors ---------------------------------------------------------------------------
    def get_cursor(self, connection: str, stream: str = "all") -> str | None:
        row = self.db.execute(
            "SELECT value FROM cursors WHERE connection=? AND stream=?", (connection, stream)
        ).fetchone()
        return str(row["value"]) if row else None

    def set_cursor(self, connection: str, value: str, stream: str = "all") -> None:
        self._write()
        with self._committing():
            self.db.execute(
                "INSERT INTO cursors VALUES (?,?,?,?) ON CONFLICT(connection, stream) "
                "DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (connection, stream, value, now_iso()),
            )

    # -- source mirror ---------------------------------------------------------------------
    def _rows_for_ids(self, select: str, params: tuple[str, ...], ids: Iterable[str]) -> Iterator[Any]:
        """``select`` (ending in ``external_id IN``) for many ids, 500 to a query."""
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            yield from self.db.execute(f"{select} ({marks})", (*params, *chunk))

    def mirror_hashes(self, connection: str, kind: str, ids: Iterable[str]) -> dict[str, str]:
        rows = self._rows_for_ids(
            "SELECT external_id, hash FROM source_records WHERE connection=? AND kind=? "
            "AND external_id IN", (connection, kind), ids)
        return {row["external_id"]: row["hash"] for row in rows}

    def mirror_for_customer(self, connection: str, customer_id: str) -> list[tuple[str, str]]:
        """(kind, doc) of every mirrored record of one customer, customer record included."""
        # a customer record is filed under its own id, so one indexed lookup finds it all
        rows = self.db.execute(
            "SELECT kind, doc FROM source_records WHERE connection=? AND customer_external_id=?",
            (connection, customer_id),
        )
        return [(row["kind"], row["doc"]) for row in rows]

    def has_mirror(self, connection: str) -> bool:
        return self.db.execute("SELECT 1 FROM source_records WHERE connection=? LIMIT 1",
                               (connection,)).fetchone() is not None

    def mirror_keys(self, connection: str) -> Iterator[tuple[str, str]]:
        """(kind, external id) of every mirrored record of one connection."""
        for row in self.db.execute(
            "SELECT kind, external_id FROM source_records WHERE connection=?", (connection,)
        ):
            yield row[0], row[1]

    def mirror_all(self, connection: str, kind: str) -> Iterator[str]:
        for row in self.db.execute(
            "SELECT doc FROM source_records WHERE connection=? AND kind=? ORDER BY external_id",
            (connection, kind),
        ):
            yield row["doc"]

    def save_mirror(
        self, connection: str, rows: Iterable[tuple[str, str, str | None, str, str]]
    ) -> None:
        """rows: (kind, external_id, customer_external_id, doc, hash). Not committed here:
        a run's read is committed as a whole by ``commit`` (or undone by ``rollback``)."""
        self._write()
        self.db.executemany(
            "INSERT INTO source_records VALUES (?,?,?,?,?,?) ON CONFLICT(connection, kind, "
            "external_id) DO UPDATE SET customer_external_id=excluded.customer_external_id, "
            "doc=excluded.doc, hash=excluded.hash",
            ((connection, *row) for row in rows),
        )

    def commit(self) -> None:
        if not self.read_only and self.db.in_transaction:
            self._commit_now()
            self._last_commit = time.monotonic()

    def rollback(self) -> None:
        """Drop every write not committed yet (a read that failed half way)."""
        if not self.read_only and self.db.in_transaction:
            self.db.rollback()

    def dirty_customers(self, connection: str) -> set[str]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT customer_external_id FROM dirty_customers WHERE connection=?", (connection,)
            )
        }

    def mark_dirty(self, connection: str, customer_ids: Iterable[str]) -> None:
        self._write()
        with self._committing():
            self.db.executemany(
                "INSERT OR IGNORE INTO dirty_customers VALUES (?,?)",
                ((connection, cid) for cid in customer_ids),
            )

    def mark_clean(self, connection: str, customer_id: str) -> None:
        """Batched: committed by ``flush`` (see there)."""
        self._write()
        self.db.execute(
            "DELETE FROM dirty_customers WHERE connection=? AND customer_external_id=?",
            (connection, customer_id),
        )

    def flush(self, *, every: float = 0.0) -> None:
        """Commit batched writes (pushed map, clean marks), at most once per ``every`` seconds.

        Why batching is safe: a change the destination accepted but whose pushed-map entry
        was lost in a crash is sent again next run, and sending is idempotent by external
        id. Committing after every change costs an fsync each; batching makes a backfill
        run at the destination's speed instead of the disk's.
        """
        if self.read_only or not self.db.in_transaction:
            return
        now = time.monotonic()
        if now - self._last_commit >= every:
            self._commit_now()
            self._last_commit = now

    # -- cancellation history --------------------------------------------------------------
    def effective_cancellations(
        self, connection: str, customer_id: str
    ) -> dict[str, tuple[datetime, ...]]:
        """Cancellation dates the destination holds that had taken effect when read:
        subscription id -> dates, oldest first."""
        if not self._has_table("cancellation_history"):
            return {}
        found: dict[str, list[datetime]] = {}
        for row in self.db.execute(
            "SELECT subscription_external_id, cancelled_at FROM cancellation_history "
            "WHERE connection=? AND customer_external_id=? ORDER BY cancelled_at",
            (connection, customer_id),
        ):
            found.setdefault(row[0], []).append(datetime.fromisoformat(row[1]))
        return {sub: tuple(sorted(dates)) for sub, dates in found.items()}

    def remember_cancellations(
        self, connection: str, customer_id: str, subscription_id: str, dates: Iterable[datetime]
    ) -> None:
        """Batched with the pushed map (committed by ``flush``): written once the destination
        holds a list with these dates, never before."""
        self._write()
        self.db.executemany(
            "INSERT OR IGNORE INTO cancellation_history VALUES (?,?,?,?)",
            ((connection, subscription_id, customer_id, _stamp(d))
             for d in dates),
        )

    # -- re-checks (time-based rules) ------------------------------------------------------
    def due_rechecks(self, connection: str, now: datetime) -> set[str]:
        """Customers a time-based rule may have changed by ``now``."""
        if not self._has_table("rechecks"):
            return set()
        return {
            row[0]
            for row in self.db.execute(
                "SELECT customer_external_id FROM rechecks WHERE connection=? AND due_at<=?",
                (connection, _stamp(now)),
            )
        }

    def set_recheck(self, connection: str, customer_id: str, due: datetime | None) -> None:
        """Batched (committed by ``flush``); ``None`` forgets the customer."""
        self._write()
        if due is None:
            self.db.execute("DELETE FROM rechecks WHERE connection=? AND customer_external_id=?",
                            (connection, customer_id))
        else:
            self.db.execute(
                "INSERT INTO rechecks VALUES (?,?,?) ON CONFLICT(connection, customer_external_id) "
                "DO UPDATE SET due_at=excluded.due_at",
                (connection, customer_id, _stamp(due)),
            )

    # -- pushed map ------------------------------------------------------------------------
    def pushed(self, connection: str, kind: str, external_id: str) -> tuple[str | None, str] | None:
        row = self.db.execute(
            "SELECT destination_id, hash FROM pushed WHERE connection=? AND kind=? AND external_id=?",
            (connection, kind, external_id),
        ).fetchone()
        return (row["destination_id"], row["hash"]) if row else None

    def pushed_many(
        self, connection: str, kind: str, ids: Iterable[str]
    ) -> dict[str, tuple[str | None, str]]:
        """``pushed`` for many records at once: external id → (destination id, hash)."""
        rows = self._rows_for_ids(
            "SELECT external_id, destination_id, hash FROM pushed WHERE connection=? "
            "AND kind=? AND external_id IN", (connection, kind), ids)
        return {row["external_id"]: (row["destination_id"], row["hash"]) for row in rows}

    # -- a split sync (saasync.split) ----------------------------------------------------------
    def knows_nothing_of(self, connection: str) -> bool:
        """No cursor, mirror, pushed map, dirty mark, review entry, recheck, cancellation
        history or import in flight for ``connection``: a first sync starts from nothing."""
        return not any(
            self.db.execute(f"SELECT 1 FROM {table} WHERE connection=? LIMIT 1",
                            (connection,)).fetchone()
            for table in _PER_CONNECTION if self._has_table(table))

    def absorb(self, connection: str, parts: list[Path], *, cursors: bool,
               before_commit: Callable[[], None] = lambda: None) -> None:
        """Add what the parts of a split sync wrote of ``connection`` (their states hold
        nothing else of it): one commit. A record every part read (a plan) is kept once.
        ``cursors``: the cursors move too (to the latest any part reached), as after a
        sync that went to the end; the run itself is recorded here, not in the parts.
        ``before_commit`` runs last before the commit (the store's merge, waited for); if it
        raises, nothing is absorbed."""
        self._write()
        self.commit()
        names = [f"part{index}" for index in range(len(parts))]
        attached: list[str] = []
        try:
            for name, path in zip(names, parts, strict=True):
                self.db.execute("ATTACH DATABASE ? AS " + name, (str(path),))
                attached.append(name)
            with self._committing():
                for name in names:
                    for table in _ABSORBED:
                        self.db.execute(f"INSERT OR IGNORE INTO main.{table} "
                                        f"SELECT * FROM {name}.{table} WHERE connection=?",
                                        (connection,))
                if cursors:
                    union = " UNION ALL ".join(f"SELECT * FROM {name}.cursors" for name in names)
                    self.db.execute(
                        "INSERT OR REPLACE INTO main.cursors SELECT connection, stream, "
                        f"max(value), max(updated_at) FROM ({union}) WHERE connection=? "
                        "GROUP BY connection, stream", (connection,))
                before_commit()
        finally:
            for name in attached:
                self.db.execute("DETACH DATABASE " + name)

    # -- bulk imports in flight --------------------------------------------------------------
    def record_import(self, connection: str, import_id: str, data_source_uuid: str,
                      manifest: Mapping[str, Any]) -> None:
        """A bulk import ChartMogul accepted: committed at once, so that a run that dies
        before it is settled leaves it for the next run (``saasync.inflight``)."""
        self._write()
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO bulk_imports VALUES (?,?,?,?,?)",
                            (connection, import_id, data_source_uuid,
                             json.dumps(manifest, sort_keys=True), now_iso()))
        self._last_commit = time.monotonic()

    def imports_in_flight(self, connection: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(import id, data source uuid, manifest)``, oldest first."""
        if not self._has_table("bulk_imports"):  # an older file opened read-only
            return []
        rows = self.db.execute(
            "SELECT import_id, data_source_uuid, manifest FROM bulk_imports WHERE connection=? "
            "ORDER BY accepted_at, rowid", (connection,)).fetchall()
        return [(row["import_id"], row["data_source_uuid"], json.loads(row["manifest"]))
                for row in rows]

    def forget_import(self, connection: str, import_id: str) -> None:
        """Settled: batched with the pushed-map entries it wrote (committed by ``flush``)."""
        self._write()
        self.db.execute("DELETE FROM bulk_imports WHERE connection=? AND import_id=?",
                        (connection, import_id))

    def record_pushed(
        self, connection: str, kind: str, external_id: str, destination_id: str | None, hash_: str
    ) -> None:
        """Batched: committed by ``flush``."""
        self.record_pushed_many(connection, kind, [(external_id, destination_id, hash_)])

    def record_pushed_many(
        self, connection: str, kind: str, rows: Iterable[tuple[str, str | None, str]]
    ) -> None:
        """(external id, destination id, hash) of several pushed records; like ``record_pushed``."""
        self._write()
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO pushed VALUES (?,?,?,?,?,?) ON CONFLICT(connection, kind, external_id) "
            "DO UPDATE SET destination_id=excluded.destination_id, hash=excluded.hash, "
            "pushed_at=excluded.pushed_at",
            [(connection, kind, ext, dest, hash_, stamp) for ext, dest, hash_ in rows],
        )

    def pushed_count(self, connection: str) -> dict[str, int]:
        return {
            row[0]: row[1]
            for row in self.db.execute(
                "SELECT kind, COUNT(*) FROM pushed WHERE connection=? GROUP BY kind", (connection,)
            )
        }

    # -- review queue ----------------------------------------------------------------------
    def upsert_review(self, connection: str, item: ReviewItem) -> None:
        """Batched (committed by ``flush``): a run that dies before that leaves the read
        uncommitted or the refused record's customer dirty, so the next run queues it again."""
        self._write()
        self.db.execute(
            "INSERT INTO review VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(connection, key) "
            "DO UPDATE SET reason=excluded.reason, field=excluded.field, "
            "message=excluded.message, location=excluded.location, raw=excluded.raw, "
            "customer_external_id=excluded.customer_external_id, last_seen=excluded.last_seen",
            (
                connection, item.key, item.kind, item.external_id, item.customer_external_id,
                item.reason, item.field, item.message, item.location,
                json.dumps(item.raw, default=str) if item.raw is not None else None,
                item.first_seen, item.last_seen,
            ),
        )

    def resolve_review(self, connection: str, keys: Iterable[str]) -> int:
        self._write()
        with self._committing():
            cur = self.db.executemany(
                "DELETE FROM review WHERE connection=? AND key=?", ((connection, k) for k in keys)
            )
        return cur.rowcount

    def review_items(self, connection: str | None = None) -> list[ReviewItem]:
        query = "SELECT * FROM review"
        args: tuple[str, ...] = ()
        if connection is not None:
            query += " WHERE connection=?"
            args = (connection,)
        rows = self.db.execute(query + " ORDER BY connection, reason, key", args).fetchall()
        return [
            ReviewItem(
                key=r["key"], kind=r["kind"], external_id=r["external_id"],
                customer_external_id=r["customer_external_id"], reason=r["reason"],
                field=r["field"], message=r["message"], location=r["location"],
                raw=json.loads(r["raw"]) if r["raw"] else None,
                first_seen=r["first_seen"], last_seen=r["last_seen"],
            )
            for r in rows
        ]

    def review_connection_of(self, key: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT connection FROM review WHERE key=?", (key,))]

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, connection: str, mode: str) -> int:
        self._write()
        with self._committing():
            cur = self.db.execute(
                "INSERT INTO runs (connection, mode, dry_run, started_at, status) VALUES (?,?,0,?,?)",
                (connection, mode, now_iso(), "running"),
            )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, report: dict[str, Any]) -> None:
        self._write()
        with self._committing():
            self.db.execute(
                "UPDATE runs SET finished_at=?, status=?, report=? WHERE id=?",
                (now_iso(), status, json.dumps(report, default=str), run_id),
            )

    def runs(self, connection: str | None = None, limit: int = 20) -> list[RunRow]:
        query = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if connection:
            query += " WHERE connection=?"
            args = (connection,)
        rows = self.db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [
            RunRow(
                id=r["id"], connection=r["connection"], mode=r["mode"], dry_run=bool(r["dry_run"]),
                started_at=r["started_at"], finished_at=r["finished_at"], status=r["status"],
                report=json.loads(r["report"]) if r["report"] else None,
            )
            for r in rows
        ]

    # -- OAuth tokens (TokenStore) ----------------------------------------------------------
    def load_tokens(self, connection: str) -> dict[str, Any] | None:
        if not self._has_table("tokens"):
            return None
        row = self.db.execute("SELECT doc FROM tokens WHERE connection=?", (connection,)).fetchone()
        return json.loads(row["doc"]) if row else None

    def save_tokens(self, connection: str, tokens: Mapping[str, Any]) -> None:
        """Committed at once: a rotated refresh token must survive a crash right after.

        The one write a dry run makes: the provider has already invalidated the old refresh
        token, so dropping the new one would lock the connection out.
        """
        row = (connection, json.dumps(dict(tokens)), now_iso())
        sql = ("INSERT INTO tokens VALUES (?,?,?) ON CONFLICT(connection) DO UPDATE SET "
               "doc=excluded.doc, updated_at=excluded.updated_at")
        if self.read_only:
            if self.path == ":memory:":
                return
            with StateStore(self.path) as writable, writable.db:
                writable.db.execute(sql, row)
        else:
            with self._committing():
                self.db.execute(sql, row)
        _restrict_permissions(self.path)

    # -- item mappings (accounting sources) ----------------------------------------------
    def item_mappings(self, connection: str) -> dict[str, ItemMapping]:
        if not self._has_table("item_mappings"):
            return {}
        return {
            row["item"]: ItemMapping(**json.loads(row["doc"]))
            for row in self.db.execute(
                "SELECT item, doc FROM item_mappings WHERE connection=?", (connection,)
            )
        }

    def save_item_mapping(self, connection: str, mapping: ItemMapping) -> None:
        self._write()
        with self._committing():
            self.db.execute(
                "INSERT INTO item_mappings VALUES (?,?,?,?) ON CONFLICT(connection, item) DO "
                "UPDATE SET doc=excluded.doc, updated_at=excluded.updated_at",
                (connection, mapping.item, json.dumps(asdict(mapping)), now_iso()),
            )

    # -- locks -----------------------------------------------------------------------------
    @contextmanager
    def lock(self, connection: str) -> Iterator[None]:
        """Never two runs of one connection at once. A lock left by a dead process is taken over."""
        self._write()
        owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        with self._committing():
            row = self.db.execute(
                "SELECT owner, pid, host, acquired_at FROM locks WHERE connection=?", (connection,)
            ).fetchone()
            if row is not None:
                if row["host"] == socket.gethostname() and not _pid_alive(row["pid"]):
                    self.db.execute("DELETE FROM locks WHERE connection=?", (connection,))
                else:
                    raise LockedError(
                        f"connection {connection!r} is already being synced by process "
                        f"{row['pid']} on {row['host']} since {row['acquired_at']}; "
                        "wait for it to finish (or remove a stale lock with `saasync unlock`)"
                    )
            self.db.execute(
                "INSERT INTO locks VALUES (?,?,?,?,?)",
                (connection, owner, os.getpid(), socket.gethostname(), now_iso()),
            )
        try:
            yield
        finally:
            with self._committing():
                self.db.execute(
                    "DELETE FROM locks WHERE connection=? AND owner=?", (connection, owner)
                )

    def force_unlock(self, connection: str) -> bool:
        self._write()
        with self._committing():
            cur = self.db.execute("DELETE FROM locks WHERE connection=?", (connection,))
        return cur.rowcount > 0


def _stamp(value: datetime) -> str:
    """Fixed width UTC text: text order is time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _open(path: str, *, upgrade: bool) -> sqlite3.Connection:
    """A writable connection to the state file, its schema brought up to date."""
    try:
        db = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as exc:
        raise unusable(exc, path, WHAT) or exc from None
    try:
        if upgrade:
            migrate(db, MIGRATIONS, path, WHAT)
    except sqlite3.Error as exc:
        db.close()
        raise unusable(exc, path, WHAT) or exc from None
    except BaseException:
        db.close()
        raise
    return db


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Read-only; a file from an older saasync is upgraded first (schema only) when this
    user may write it, so the reading code sees one schema."""
    uri = f"file:{path.resolve()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise unusable(exc, path, WHAT) or exc from None
    try:
        version = check_not_newer(db, MIGRATIONS, str(path), WHAT)
    except sqlite3.Error as exc:
        db.close()
        raise unusable(exc, path, WHAT) or exc from None
    except BaseException:
        db.close()
        raise
    if version < SCHEMA_VERSION and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        db.close()
        _open(str(path), upgrade=True).close()
        db = sqlite3.connect(uri, uri=True, timeout=30)
    return db


def schema_version_of(path: str | Path) -> int:
    """The schema version of a state file, read-only."""
    db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        return user_version(db)
    finally:
        db.close()


def _restrict_permissions(path: str) -> None:
    """The state file holds OAuth tokens: readable by its owner only."""
    if path != ":memory:":
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# every table holding something of one connection, and those a split sync's parts fill
_PER_CONNECTION = ("cursors", "source_records", "pushed", "dirty_customers", "review",
                   "rechecks", "cancellation_history", "bulk_imports")
_ABSORBED = ("source_records", "pushed", "dirty_customers", "review", "rechecks",
             "cancellation_history")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
