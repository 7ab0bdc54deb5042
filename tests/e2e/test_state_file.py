"""The state file at the CLI edge: unusable paths, damage, recovery, schema versions, privacy."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from saasync import state as state_module
from saasync.destinations.local import LocalStore
from saasync.state import StateStore
from tests.e2e.conftest import RunCli, write_config

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


def _config_with_state(tmp_path: Path, sample_dir: Path, state: str) -> Path:
    config = write_config(tmp_path, sample_dir)
    text = config.read_text(encoding="utf-8").replace('state = "state/state.db"', f'state = "{state}"')
    config.write_text(text, encoding="utf-8")
    return config


# -- unusable paths ------------------------------------------------------------------------
def test_state_path_is_a_directory_exits_2_naming_state(tmp_path: Path, sample_dir: Path,
                                                        run_cli: RunCli) -> None:
    (tmp_path / "state" / "state.db").mkdir(parents=True)
    config = write_config(tmp_path, sample_dir)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 2, err
    assert "state" in err and str(_state(tmp_path)) in err and "directory" in err
    assert "unexpected" not in err


def test_state_path_that_cannot_be_created_exits_2_naming_state(tmp_path: Path, sample_dir: Path,
                                                                run_cli: RunCli) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    config = _config_with_state(tmp_path, sample_dir, "blocker/state.db")
    for command in (("sync",), ("runs",), ("status",), ("sync", "--dry-run")):
        code, _, err = run_cli(*command, "--config", str(config))
        assert code == 2, (command, err)
        assert "state" in err and str(tmp_path / "blocker" / "state.db") in err
        assert "unexpected" not in err


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_state_in_a_read_only_directory_exits_2_naming_state(tmp_path: Path, sample_dir: Path,
                                                             run_cli: RunCli) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = run_cli("sync", "--config", str(write_config(tmp_path, sample_dir)))
    finally:
        folder.chmod(0o700)
    assert code == 2, err
    assert "state" in err and str(folder / "state.db") in err and "unexpected" not in err


# -- damage and recovery -------------------------------------------------------------------
def _synced(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> Path:
    config = write_config(tmp_path, sample_dir)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 0, err
    return config


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _scribble(path: Path) -> None:
    """Overwrite the middle of the file (pages of table data) with noise."""
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data) - 4096, 8192):
        data[offset : offset + 2048] = os.urandom(2048)
    path.write_bytes(bytes(data))


def test_corrupt_state_file_message_names_file_and_remedy(tmp_path: Path, sample_dir: Path,
                                                          run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    path = _state(tmp_path)
    path.write_bytes(b"this is not a database, it is a text file" * 100)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 7, err
    assert str(path) in err and "damaged" in err
    assert "saasync state rebuild" in err and "saasync backfill --since" in err
    assert "unexpected" not in err


def test_truncated_state_file_is_reported_with_its_path(tmp_path: Path, sample_dir: Path,
                                                        run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    _truncate(_state(tmp_path))
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 7, err
    assert str(_state(tmp_path)) in err and "saasync state rebuild" in err


def test_state_check_passes_on_a_good_file_and_exits_6_on_a_damaged_one(
        tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    code, out, err = run_cli("state", "check", "--config", str(config))
    assert code == 0, err
    assert "ok" in out and str(_state(tmp_path)) in out
    _scribble(_state(tmp_path))
    code, out, err = run_cli("state", "check", "--config", str(config))
    assert code == 6, (out, err)
    assert str(_state(tmp_path)) in out + err and "saasync state rebuild" in out + err


def test_state_check_of_a_missing_file_says_so(tmp_path: Path, sample_dir: Path,
                                               run_cli: RunCli) -> None:
    config = write_config(tmp_path, sample_dir)
    code, out, err = run_cli("state", "check", "--config", str(config))
    assert code == 0, err
    assert "no state file" in out and not _state(tmp_path).exists()


def test_state_rebuild_moves_the_file_aside_and_the_next_sync_relearns_the_pushed_map(
        tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    store_path = tmp_path / "store" / "analytics.db"
    with LocalStore(store_path) as store:
        before = store.fingerprint()
    with StateStore(_state(tmp_path), read_only=True) as state:
        pushed_before = state.pushed_count("sample")
    _truncate(_state(tmp_path))
    code, out, err = run_cli("state", "rebuild", "--config", str(config))
    assert code == 0, err
    aside = [p for p in _state(tmp_path).parent.iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].name in out
    with StateStore(_state(tmp_path), read_only=True) as state:
        assert state.pushed_count("sample") == {} and state.get_cursor("sample") is None
    assert "already" in out and "next" in out
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 0, err
    with LocalStore(store_path) as store:
        assert store.fingerprint() == before  # nothing duplicated, nothing lost
    with StateStore(_state(tmp_path), read_only=True) as state:
        assert state.pushed_count("sample") == pushed_before
    code, out, err = run_cli("state", "check", "--config", str(config))
    assert code == 0, err


def test_state_rebuild_keeps_tokens_and_item_mappings_it_can_still_read(
        tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, sample_dir)
    code, _, err = run_cli("review", "map", "SKU-9", "--one-time", "--config", str(config))
    assert code == 0, err
    with StateStore(_state(tmp_path)) as state:
        state.save_tokens("sample", {"refresh_token": "r-1"})
    code, _, err = run_cli("state", "rebuild", "--config", str(config))
    assert code == 2 and "--force" in err  # a sound file is not set aside by accident
    code, out, err = run_cli("state", "rebuild", "--force", "--config", str(config))
    assert code == 0, err
    with StateStore(_state(tmp_path), read_only=True) as state:
        assert state.load_tokens("sample") == {"refresh_token": "r-1"}
        assert "SKU-9" in state.item_mappings("sample")
    assert "kept" in out


# -- schema versions -----------------------------------------------------------------------
def test_old_state_schema_is_migrated(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    path = _state(tmp_path)
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(state_module.SCHEMA_V0)  # today's tables, no user_version: version 0
    db.execute("INSERT INTO cursors VALUES ('sample', 'all', '2020-01-01T00:00:00+00:00', 'x')")
    db.commit()
    db.close()
    assert _user_version(path) == 0
    config = write_config(tmp_path, sample_dir)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 0, err
    assert _user_version(path) == state_module.SCHEMA_VERSION >= 1
    with StateStore(path, read_only=True) as state:
        assert state.get_cursor("sample") != "2020-01-01T00:00:00+00:00"  # read, then moved


def test_newer_state_file_is_refused_with_a_clear_message(tmp_path: Path, sample_dir: Path,
                                                          run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    newer = state_module.SCHEMA_VERSION + 1
    db = sqlite3.connect(_state(tmp_path))
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    for command in (("sync",), ("runs",), ("sync", "--dry-run")):
        code, _, err = run_cli(*command, "--config", str(config))
        assert code == 2, (command, err)
        assert str(_state(tmp_path)) in err and f"version {newer}" in err
        assert "newer saasync" in err
    assert _user_version(_state(tmp_path)) == newer  # left as it was


def test_newer_local_store_is_refused_with_a_clear_message(tmp_path: Path, sample_dir: Path,
                                                           run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    store = tmp_path / "store" / "analytics.db"
    db = sqlite3.connect(store)
    db.execute("PRAGMA user_version = 99")
    db.close()
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 2, err
    assert str(store) in err and "version 99" in err and "newer saasync" in err


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


# -- privacy -------------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_and_store_files_are_private(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    old = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        _synced(tmp_path, sample_dir, run_cli)
        state = _state(tmp_path)
        store = tmp_path / "store" / "analytics.db"
        files = [state, store]
        files += [Path(f"{p}{suffix}") for p in (state, store) for suffix in ("-wal", "-shm", "-journal")
                  if Path(f"{p}{suffix}").exists()]
        with StateStore(state) as held, LocalStore(store):  # siblings exist while open
            held.set_cursor("sample", "2030-01-01T00:00:00+00:00")
            held.db.execute("BEGIN IMMEDIATE")
            held.db.execute("DELETE FROM runs")
            files += [p for p in state.parent.iterdir()] + [p for p in store.parent.iterdir()]
            modes = {str(p): oct(_mode(p)) for p in files if p.exists()}
            held.db.rollback()
    finally:
        os.umask(old)
    assert any(name.endswith(("-journal", "-wal")) for name in modes), modes
    assert set(modes.values()) == {oct(0o600)}, modes


def test_existing_world_readable_state_is_tightened_with_a_warning(
        tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = _synced(tmp_path, sample_dir, run_cli)
    _state(tmp_path).chmod(0o644)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 0, err
    assert _mode(_state(tmp_path)) == 0o600
    assert "0644" in err and str(_state(tmp_path)) in err
