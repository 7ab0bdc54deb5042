"""The SQLite files saasync keeps (the state file, the local store): how they are opened.

Three concerns, shared by both files:

- **Privacy.** They hold names, emails and OAuth tokens. A missing file is created here
  with mode 0600 before SQLite opens it (SQLite gives its ``-journal``, ``-wal`` and
  ``-shm`` siblings the mode of the database file, so they are 0600 too). An existing
  file readable by others is tightened to 0600, with a warning naming it.
- **Clear errors.** A path that is a directory or cannot be created is a configuration
  error (exit 2) naming the setting and the path. A damaged file (``SQLITE_CORRUPT``,
  ``SQLITE_NOTADB``) is a :class:`DamagedFileError` (exit 7) naming the file and the
  command that recovers. Damage found later, in the middle of a run, is traced back to
  its file by :func:`damaged_file_error` (the CLI edge calls it).
- **Schema versions.** ``PRAGMA user_version`` counts the migrations applied. Migrations
  are an ordered list: entry *i* turns version *i* into version *i + 1*, in one
  transaction. A file newer than the code is refused and left as it is.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import structlog

from saasync.errors import ConfigError, SaasyncError

log = structlog.get_logger("saasync.files")

#: One step of a schema: SQL (one or more statements) or a function of the connection.
Migration = str | Callable[[sqlite3.Connection], None]

PRIVATE = 0o600
_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_PATH_CODES = {3, 8, 14}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN
_SIBLINGS = ("-journal", "-wal", "-shm")


def without_durability(conn: sqlite3.Connection) -> None:
    """For a scratch file that nothing reads after a crash (a split sync's parts, thrown
    away unless every part finished): no fsync, and the rollback journal in memory
    (savepoints and rollbacks work as before; a crash may leave the file unreadable).
    Call it with no transaction open and no other connection to the file."""
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")


#: Files opened by this process, path → setting name: where damage seen later is looked for.
_OPENED: dict[str, str] = {}


class UnusablePathError(ConfigError):
    """The configured path cannot hold a SQLite file (a directory, no permission...)."""


class NewerSchemaError(ConfigError):
    """The file was written by a newer saasync: reading it could misread it."""


class DamagedFileError(SaasyncError):
    """SQLite cannot read the file: it is truncated, overwritten, or not a database."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def is_damage(exc: BaseException) -> bool:
    """Is this SQLite error "the file is damaged" (not "locked", "busy", "no such table")?"""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGE_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


# -- opening ---------------------------------------------------------------------------------
def prepare_private(path: str | Path, what: str, *, create: bool = True) -> None:
    """Make sure ``path`` can hold the file: its folder exists, it is not a directory, and
    the file (created here if missing and ``create``) is readable by its owner only."""
    target = Path(path)
    _OPENED[str(target)] = what
    if target.is_dir():
        raise UnusablePathError(
            f"{what} = {target}: that is a directory; give the path of a file inside it "
            f"(e.g. {target / 'state.db'})"
        )
    existing = next((p for p in target.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UnusablePathError(
            f"{what} = {target}: {existing} is a file, not a folder, so the path cannot be "
            f"created; point `{what}` at a path in a folder"
        )
    if not create and not target.exists():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnusablePathError(
            f"{what} = {target}: cannot create its folder {target.parent} "
            f"({exc.strerror or exc}); point `{what}` at a writable place"
        ) from None
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, PRIVATE)
    except OSError as exc:
        raise UnusablePathError(
            f"{what} = {target}: cannot open or create the file ({exc.strerror or exc}); "
            f"point `{what}` at a file this user can write"
        ) from None
    try:
        tighten(target, fd)
    finally:
        os.close(fd)


def tighten(path: Path, fd: int | None = None) -> None:
    """An existing file readable or writable by others: 0600, with a warning."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode if fd is not None else os.stat(path).st_mode)
    if not mode & 0o077:
        return
    try:
        if fd is not None:
            os.fchmod(fd, PRIVATE)
        else:
            os.chmod(path, PRIVATE)
    except OSError as exc:
        log.warning(f"{path} is readable by others (mode {mode:04o}) and could not be made "
                    f"private ({exc.strerror}): it holds customer data and tokens; "
                    f"chmod 600 it", path=str(path))
        return
    log.warning(f"{path} was readable by others (mode {mode:04o}); it holds customer data "
                "and tokens, so it is now 0600", path=str(path))


def unusable(exc: sqlite3.Error, path: str | Path, what: str) -> SaasyncError | None:
    """The error to raise for a SQLite error met while opening ``path``; None when it is
    not about the file (say, "database is locked"): the caller re-raises it as it is."""
    target = Path(path)
    if is_damage(exc):
        return damaged(target, what, exc)
    if target.is_dir():
        return UnusablePathError(f"{what} = {target}: that is a directory, not a file")
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _PATH_CODES:
        return UnusablePathError(
            f"{what} = {target}: SQLite cannot use this file ({exc}); check that this user "
            "may read and write the file and its folder (SQLite writes a journal next to it)"
        )
    return None


# -- schema versions -------------------------------------------------------------------------
def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_not_newer(conn: sqlite3.Connection, migrations: Sequence[Migration], path: str,
                    what: str) -> int:
    """The file's schema version; a NewerSchemaError when this code does not know it."""
    version = user_version(conn)
    if version > len(migrations):
        from saasync import __version__

        raise NewerSchemaError(
            f"{what} = {path}: schema version {version}, but this saasync ({__version__}) "
            f"knows versions up to {len(migrations)}: the file was written by a newer saasync. "
            "Upgrade saasync to use it (it was left as it is), or point "
            f"`{what}` at another file"
        )
    return version


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], path: str,
            what: str) -> int:
    """Apply the migrations the file lacks, each in its own transaction; return the version.

    A new file is version 0 and gets every step. Two processes upgrading at once are safe:
    each step re-reads the version under ``BEGIN IMMEDIATE``.
    """
    start = check_not_newer(conn, migrations, path, what)
    if start == len(migrations):
        return start  # up to date: opening writes nothing, takes no write lock
    isolation = conn.isolation_level
    conn.isolation_level = None  # the transactions below are explicit
    try:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = check_not_newer(conn, migrations, path, what)
                if version == len(migrations):
                    conn.execute("COMMIT")
                    break
                step = migrations[version]
                if callable(step):
                    step(conn)
                else:
                    for statement in _statements(step):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    finally:
        conn.isolation_level = isolation
    if 0 < start < version:
        log.info(f"{what}: schema upgraded from version {start} to {version}", path=path)
    return version


def _statements(script: str) -> Iterator[str]:
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending.strip()
            pending = ""


# -- damage ----------------------------------------------------------------------------------
LABELS = {"state": "state file", "destination.path": "local store"}


def damaged(path: Path, what: str, exc: BaseException | str) -> DamagedFileError:
    reason = str(exc)
    if what == "state":
        remedy = (
            "Recover with `saasync state rebuild`: it moves the file aside, keeps the OAuth "
            "tokens and item mappings it can still read, and the next `saasync sync` reads "
            "the whole source again and relearns what the destination already holds "
            "(nothing is sent twice). By hand: move the file aside and run "
            "`saasync backfill --since YYYY-MM-DD` from your first invoice date, then "
            "`saasync sync`."
        )
    else:
        remedy = (
            "Restore it from a backup, or start it afresh: move it aside, run "
            "`saasync state rebuild --force` (the state must forget what it pushed there) "
            "and then `saasync sync`."
        )
    return DamagedFileError(
        f"the {LABELS.get(what, what)} {path} is damaged ({reason}): SQLite cannot read it, e.g. it was "
        f"truncated by a full disk or a copy taken while it was written. {remedy} "
        "`saasync state check` checks the files.",
        str(path),
    )


def integrity_problems(path: str | Path) -> list[str]:
    """``PRAGMA integrity_check`` of a file, read-only: [] when it is sound."""
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def damaged_file_error(exc: sqlite3.DatabaseError) -> DamagedFileError | None:
    """Damage met during a run: which of the files this process opened is it?"""
    if not is_damage(exc):
        return None
    for path, what in reversed(list(_OPENED.items())):
        if Path(path).is_file() and integrity_problems(path):
            return damaged(Path(path), what, exc)
    return None


def forget_opened() -> None:
    _OPENED.clear()


def siblings(path: Path) -> list[Path]:
    """The journal, WAL and shared-memory files SQLite keeps next to ``path``."""
    return [Path(f"{path}{suffix}") for suffix in _SIBLINGS]
