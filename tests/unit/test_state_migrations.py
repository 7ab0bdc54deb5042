"""Schema versions: ordered migrations, one transaction each, newer files refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from saasync import state as state_module
from saasync.destinations.local import LocalStore
from saasync.destinations.local import schema as local_schema
from saasync.sqlite_files import NewerSchemaError
from saasync.state import StateStore


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _columns(path: Path, table: str) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    finally:
        db.close()


def test_a_new_state_file_is_at_the_latest_version(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db"):
        pass
    assert _version(tmp_path / "s.db") == state_module.SCHEMA_VERSION == len(state_module.MIGRATIONS)


def test_an_appended_migration_upgrades_an_existing_file_and_keeps_its_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.db"
    with StateStore(path) as state:
        state.set_cursor("c", "2024-01-01")
    step = "ALTER TABLE source_records ADD COLUMN cancelled_at TEXT"
    monkeypatch.setattr(state_module, "MIGRATIONS", (*state_module.MIGRATIONS, step))
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", len(state_module.MIGRATIONS))
    with StateStore(path, read_only=True) as state:  # a dry run of the new code sees the column
        assert state.get_cursor("c") == "2024-01-01"
        assert "cancelled_at" in {r[1] for r in state.db.execute("PRAGMA table_info(source_records)")}
    assert _version(path) == state_module.SCHEMA_VERSION
    with StateStore(tmp_path / "new.db"):  # a new file gets every step
        pass
    assert "cancelled_at" in _columns(tmp_path / "new.db", "source_records")


def test_a_failing_migration_leaves_the_file_at_its_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.db"
    with StateStore(path):
        pass
    before = _version(path)
    broken = "CREATE TABLE half_done (x TEXT); ALTER TABLE no_such_table ADD COLUMN y TEXT"
    monkeypatch.setattr(state_module, "MIGRATIONS", (*state_module.MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError):
        StateStore(path)
    assert _version(path) == before
    db = sqlite3.connect(path)
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name='half_done'").fetchone() is None
    db.close()


def test_a_state_file_from_a_newer_saasync_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateStore(path):
        pass
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {state_module.SCHEMA_VERSION + 3}")
    db.close()
    for read_only in (False, True):
        with pytest.raises(NewerSchemaError, match="newer saasync"):
            StateStore(path, read_only=read_only)
    assert _version(path) == state_module.SCHEMA_VERSION + 3


def test_the_local_store_has_ordered_migrations_too(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.db"
    with LocalStore(path):
        pass
    assert _version(path) == local_schema.SCHEMA_VERSION == len(local_schema.MIGRATIONS)
    step = "ALTER TABLE customers ADD COLUMN city TEXT"
    monkeypatch.setattr(local_schema, "MIGRATIONS", (*local_schema.MIGRATIONS, step))
    with LocalStore(path):
        pass
    assert _version(path) == local_schema.SCHEMA_VERSION + 1
    assert "city" in _columns(path, "customers")
