"""``saasync state check`` and ``saasync state rebuild``: the state file's health and recovery.

Why a rebuild is safe: everything in the state file but the OAuth tokens and the item
mappings can be learned again. With no cursor the next sync reads the whole source and
rebuilds the mirror; it sends every record, and the destination either accepts the same
content again (the local store) or answers "already exists" (ChartMogul), which the
destination reads back and compares (``destinations/chartmogul``: ``_create_customer``,
``import_invoices``). Equal is success and is recorded in the pushed map; a difference is a
conflict, reported as always. Tokens and mappings are copied from the old file when they
can still be read.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import click

from saasync.command_options import config_option
from saasync.errors import ConfigError, LockedError
from saasync.exit_status import ExitStatus
from saasync.settings import Settings, load_settings
from saasync.sqlite_files import (
    LABELS,
    UnusablePathError,
    damaged,
    integrity_problems,
    siblings,
    user_version,
)
from saasync.state import SCHEMA_VERSION, StateStore

NEXT_RUN = (
    "What the next `saasync sync` does: it has no cursor, so it reads the whole source "
    "again and rebuilds the mirror. It sends every record; for what the destination already "
    "holds, the local store accepts the same content again and ChartMogul answers \"already "
    "exists\", which saasync reads back and compares. Equal records are recorded as pushed "
    "again, so nothing is sent twice; a record that differs from what the destination holds "
    "is reported as a conflict, as always. Run history and the review queue start empty "
    "(the next run fills the queue again)."
)


def _files(settings: Settings) -> list[tuple[str, Path]]:
    """(setting, path) of the state file and of every local store in the config."""
    files = [("state", settings.resolve(settings.state))]
    for _name, conn in sorted(settings.connections.items()):
        if conn.destination.type == "local":
            path = settings.resolve(conn.destination.path)
            if all(path != known for _, known in files):
                files.append(("destination.path", path))
    return files


def _version(path: Path) -> int | None:
    try:
        db = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return user_version(db)
    except sqlite3.Error:
        return None
    finally:
        db.close()


@click.group("state")
def state_group() -> None:
    """The state file: check its integrity, or rebuild it after damage."""


@state_group.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the check of each file as JSON.")
def check(config_path: str | None, as_json: bool) -> int:
    """Integrity check of the state file and the local stores (exit 6 when one is damaged)."""
    from saasync.destinations.local.schema import SCHEMA_VERSION as STORE_VERSION

    settings = load_settings(config_path)
    known = {"state": SCHEMA_VERSION, "destination.path": STORE_VERSION}
    results = []
    for what, path in _files(settings):
        label = LABELS[what]
        if path.is_dir():
            raise UnusablePathError(f"{what} = {path}: that is a directory, not a file")
        if not path.exists():
            results.append({"file": label, "path": str(path), "status": "missing", "problems": [],
                            "message": f"{label} {path}: no {label} yet (the first sync creates it)"})
            continue
        problems = integrity_problems(path)
        version = _version(path) if not problems else None
        if not problems and version is not None and version > known[what]:
            newer = (f"schema version {version} is newer than this saasync knows "
                     f"({known[what]}): upgrade saasync")
            problems = [newer]
        if problems:
            message = f"{label} {path}: DAMAGED: {'; '.join(problems[:5])}"
            if not problems[0].startswith("schema version"):
                message += "\n  " + str(damaged(path, what, problems[0]))
        else:
            message = f"{label} {path}: ok (schema version {version})"
        results.append({"file": label, "path": str(path), "status": "damaged" if problems else "ok",
                        "problems": problems, "message": message})
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for result in results:
            click.echo(result["message"])
    bad = any(r["status"] == "damaged" for r in results)
    return int(ExitStatus.ISSUES_FOUND if bad else ExitStatus.OK)


@state_group.command("rebuild")
@config_option
@click.option("--force", is_flag=True, help="Start afresh even when the file passes the check.")
def rebuild(config_path: str | None, force: bool) -> int:
    """Move the state file aside and start a new one (keeping the tokens and item mappings
    that can still be read); the next sync relearns the rest. Make sure no run is going on."""
    settings = load_settings(config_path)
    path = settings.resolve(settings.state)
    if path.is_dir():
        raise UnusablePathError(f"state = {path}: that is a directory, not a file")
    if not path.exists():
        click.echo(f"no state file at {path}: nothing to rebuild (the next sync creates it)")
        return 0
    problems = integrity_problems(path)
    if not problems:
        if not force:
            raise ConfigError(f"state = {path} passes the integrity check: nothing to rebuild "
                              "(add --force to start it afresh anyway)")
        with StateStore(path, read_only=True) as old:
            held = old.db.execute("SELECT connection, pid, host FROM locks").fetchall()
        if held:
            names = ", ".join(f"{r[0]} (process {r[1]} on {r[2]})" for r in held)
            raise LockedError(f"a run holds the lock of {names}: wait for it, or `saasync unlock`")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.{'damaged' if problems else 'replaced'}-{stamp}")
    path.rename(aside)
    for sibling, target in zip(siblings(path), siblings(aside), strict=True):
        if sibling.exists():
            sibling.rename(target)
    kept, lost = _salvage(aside, path)
    click.echo(f"moved the state file aside to {aside} (keep it until a sync has succeeded)")
    click.echo(f"new state file {path} (schema version {SCHEMA_VERSION})")
    for line in kept:
        click.echo(f"kept {line}")
    for line in lost:
        click.echo(f"lost {line}")
    click.echo(NEXT_RUN)
    return 0


def _salvage(old: Path, new: Path) -> tuple[list[str], list[str]]:
    """Copy the tokens and item mappings that can still be read from ``old`` into ``new``."""
    kept: list[str] = []
    lost: list[str] = []
    tables = {
        "tokens": ("OAuth tokens", "connection, doc, updated_at",
                   "re-authorize connections that use OAuth"),
        "item_mappings": ("item mappings", "connection, item, doc, updated_at",
                          "map the items again with `saasync review map`"),
    }
    with StateStore(new) as fresh:
        try:
            source = sqlite3.connect(f"file:{old.resolve()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return kept, [f"the OAuth tokens and item mappings ({exc})"]
        try:
            for table, (label, columns, remedy) in tables.items():
                try:
                    rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
                except sqlite3.DatabaseError as exc:
                    lost.append(f"the {label} ({exc}): {remedy}")
                    continue
                marks = ",".join("?" * len(columns.split(",")))
                with fresh.db:
                    fresh.db.executemany(
                        f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", rows)
                kept.append(f"{len(rows)} {label}")
        finally:
            source.close()
    return kept, lost
