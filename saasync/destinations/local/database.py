"""The parts of the local store its reader and writer share: the open file and the selection.

``Database`` is one open store file: the connection (the schema created, migrated or
checked on open, ``schema.open_database``), the clock and id maker writes use, and the
transaction helpers. A sync holds its writes (``hold_commits``): each call is then a
savepoint inside one open transaction, committed by ``commit_held`` (the state file asks
for it before it commits, so the state never runs ahead of the store) or on close. ``Selection`` is the data source every call works on; the reader,
the writer and ``LocalStore`` hold the same one, so choosing a source is seen by all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from saasync.destinations.local.rows import DataSourceInfo
from saasync.destinations.local.schema import OrderedUuids, open_database, utcnow
from saasync.errors import FatalError
from saasync.sqlite_files import without_durability


class Database:
    """One open store file (or ``":memory:"``) with its clock and id maker."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        clock: Callable[[], datetime] = utcnow,
        new_uuid: Callable[[str], str] | None = None,
        check_same_thread: bool = True,
    ) -> None:
        self.path = str(path)
        self.conn = open_database(self.path, check_same_thread=check_same_thread)
        self.clock = clock
        self.new_uuid = new_uuid or OrderedUuids()  # ids in creation order (see there)
        self._holding = False
        self._closed = False
        self.durable = True  # False: a scratch file (``scratch``), never fsynced

    def scratch(self) -> None:
        """This file is scratch (see ``saasync.sqlite_files.without_durability``)."""
        without_durability(self.conn)
        self.durable = False

    def close(self) -> None:
        """Commit what is held (the store accepted it), then close."""
        if self._closed:
            return
        self.commit_held()
        self._closed = True
        self.conn.close()

    def hold_commits(self, hold: bool = True) -> None:
        """While held, writes stay in one open transaction until ``commit_held``: one
        commit per batch of calls instead of one per call (a sync's backfill). Each such
        commit is fsynced (one per batch, cheap): the state file's commit that follows
        records what it holds, and must not survive a power cut that this one did not.
        ``hold=False`` commits what is held and goes back to one commit per call."""
        self.commit_held()
        if hold != self._holding:
            self._holding = hold
            if self.durable:
                self.conn.execute(f"PRAGMA synchronous = {'FULL' if hold else 'NORMAL'}")

    def commit_held(self) -> None:
        """Make every write accepted so far durable (a no-op when none is pending)."""
        if not self._closed and self.conn.in_transaction:
            self.conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed at the end of the block, rolled back on error.

        While commits are held, the block is a savepoint of the held transaction instead:
        rolled back alone on error, committed with the batch."""
        if self._holding:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("SAVEPOINT call")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK TO call")
                self.conn.execute("RELEASE call")
                raise
            self.conn.execute("RELEASE call")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: the block's writes are undone alone if it raises."""
        self.conn.execute("SAVEPOINT invoice")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO invoice")
            self.conn.execute("RELEASE invoice")
            raise
        self.conn.execute("RELEASE invoice")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One consistent view across several queries (a writer may commit in between);
        inside a write transaction that transaction already is one."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")


class Selection:
    """The data source every read and write works on (None until one is chosen)."""

    def __init__(self) -> None:
        self.current: DataSourceInfo | None = None

    def require(self) -> DataSourceInfo:
        if self.current is None:
            raise FatalError("no data source selected: call ensure_data_source() first")
        return self.current

    @contextmanager
    def using(self, ds: DataSourceInfo) -> Iterator[DataSourceInfo]:
        """Work on ``ds`` for the duration of the block, then on the previous one again."""
        previous, self.current = self.current, ds
        try:
            yield ds
        finally:
            self.current = previous

    def forget(self, ds: DataSourceInfo) -> None:
        """``ds`` is gone: if it was selected, nothing is any more."""
        if self.current is not None and self.current.id == ds.id:
            self.current = None
