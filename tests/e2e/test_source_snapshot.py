"""A file source is read as one consistent snapshot: an export rewritten in place while it
is read fails the run, moves no cursor and records no hash, so the next run reads it again
(issue #15, item 1)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import saasync_connectors.files.connector as files_connector
from saasync.exit_status import ExitStatus
from saasync.state import StateStore
from saasync_connectors.files.sample.writers import generate
from tests.e2e.conftest import RunCli, run_json, write_config


@pytest.fixture
def jsonl_export(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    generate(target, end=date(2026, 11, 1), fmt="jsonl")
    return target


def rewritten(path: Path) -> bytes:
    """The export as the billing system writes it next: every invoice paid again, one more
    invoice, so the new file differs from the one being read."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    paid = next(row for row in rows if row["status"] == "paid" and len(row["lines"]) == 1
                and row["lines"][0]["kind"] == "subscription" and row["lines"][0]["amount"] != "0.00")
    touched = datetime.now(UTC).isoformat()  # changed now: inside the next incremental window
    extra = {**paid, "external_id": "inv_rewritten_extra", "updated_at": touched,
             **{nested: [{**item, "external_id": f"{item['external_id']}_x"} for item in paid[nested]]
                for nested in ("lines", "transactions")}}
    rows.append(extra)
    return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()


def rewrite_in_chunks(path: Path, content: bytes, chunk: int = 4096) -> None:
    """An exporter that rewrites the file in place (truncate, then write piece by piece)."""
    with path.open("r+b") as handle:
        handle.truncate(0)
        for start in range(0, len(content), chunk):
            handle.write(content[start:start + chunk])
            handle.flush()


def rewrite_during_read(monkeypatch: pytest.MonkeyPatch, path: Path, after_rows: int) -> list[int]:
    """Hook the connector's row reader: once ``after_rows`` rows of ``path`` were read, a
    writer thread rewrites the file in chunks while the reader's handle is still open; the
    reader waits for it, then goes on reading the torn file."""
    content = rewritten(path)
    original = files_connector.read_rows
    fired: list[int] = []

    def hooked(file: Path, *args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = original(file, *args, **kwargs)
        if file != path or fired:
            yield from rows
            return
        for number, row in enumerate(rows, start=1):
            yield row
            if number == after_rows and not fired:
                fired.append(number)
                writer = threading.Thread(target=rewrite_in_chunks, args=(path, content))
                writer.start()
                writer.join()

    monkeypatch.setattr(files_connector, "read_rows", hooked)
    return fired


def synced(run_cli: RunCli, config: Path) -> dict[str, Any]:
    """A sync's JSON report; the sample holds one record the local store refuses (exit 5)."""
    code, out, err = run_cli("sync", "--config", str(config), "--json")
    assert code in (ExitStatus.OK, ExitStatus.PARTIAL), err
    return json.loads(out)  # type: ignore[no-any-return]


def state_of(tmp_path: Path) -> tuple[str | None, str | None, int]:
    with StateStore(tmp_path / "state" / "state.db") as state:
        review = len(state.review_items("sample"))
        return state.get_cursor("sample"), state.get_cursor("sample", "fingerprint"), review


def store_invoices(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "store" / "analytics.db") as db:
        return {row[0] for row in db.execute("SELECT external_id FROM invoices")}


def test_export_rewritten_during_read_fails_run_and_keeps_cursor(
        tmp_path: Path, jsonl_export: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, jsonl_export)
    first = synced(run_cli, config)
    assert first["counts"]["balanced"]
    before = state_of(tmp_path)
    pushed_before = store_invoices(tmp_path)
    invoices = jsonl_export / "invoices.jsonl"
    with invoices.open("a", encoding="utf-8") as handle:  # a change, so the next sync reads
        handle.write("\n")

    fired = rewrite_during_read(monkeypatch, invoices, after_rows=40)
    code, _out, err = run_cli("sync", "--config", str(config), "--json")
    assert fired, "the rewrite did not happen during the read"
    assert code == ExitStatus.SOURCE_CHANGED
    assert "invoices.jsonl" in err and "changed while it was read" in err
    # nothing moved: cursor, recorded hash, review queue (no torn line queued), destination
    assert state_of(tmp_path) == before
    assert store_invoices(tmp_path) == pushed_before

    monkeypatch.undo()
    again = synced(run_cli, config)
    assert "source_unchanged" not in again and again["counts"]["balanced"]
    assert any(op["external_id"] == "inv_rewritten_extra" for op in again["ops"])
    assert store_invoices(tmp_path) == pushed_before | {"inv_rewritten_extra"}
    quiet = run_json(run_cli, "sync", "--config", str(config))
    assert quiet["source_unchanged"] is True


def test_first_sync_of_an_export_rewritten_during_read_records_nothing(
        tmp_path: Path, jsonl_export: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, jsonl_export)
    rewrite_during_read(monkeypatch, jsonl_export / "invoices.jsonl", after_rows=3)
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == ExitStatus.SOURCE_CHANGED and "invoices.jsonl" in err
    assert state_of(tmp_path) == (None, None, 0)
    monkeypatch.undo()
    again = synced(run_cli, config)
    assert again["counts"]["balanced"] and again["counts"]["read"] > 1000


def test_dry_run_of_an_export_rewritten_during_read_fails_too(
        tmp_path: Path, jsonl_export: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, jsonl_export)
    rewrite_during_read(monkeypatch, jsonl_export / "invoices.jsonl", after_rows=3)
    code, _, err = run_cli("sync", "--config", str(config), "--dry-run", "--workers", "1")
    assert code == ExitStatus.SOURCE_CHANGED and "invoices.jsonl" in err
