"""A first sync of an export into the local store, split over processes (``saasync.split``),
writes exactly what the one-process sync writes, into the store and the state, and says
the same; any other real run stays in one process."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from saasync import split
from saasync.destinations.local import merge
from tests.e2e.conftest import RunCli, run_json, write_config
from tests.e2e.test_lean_dry_run import generated, with_edge_rows
from tests.e2e.test_parallel_dry_run import comparable

# What the local store holds, without its internal ids (uuids are new in every run).
STORE_QUERIES = {
    "data_sources": "SELECT name FROM data_sources",
    "customers": "SELECT external_id, name, email, company, country, created_at FROM customers",
    "plans": "SELECT external_id, name, interval_unit, interval_count FROM plans",
    "invoices": "SELECT i.external_id, c.external_id, i.date, i.due_date, i.currency, i.status "
                "FROM invoices i JOIN customers c ON c.id = i.customer_id",
    "lines": "SELECT i.external_id, li.position, li.type, s.external_id, p.external_id, "
             "li.service_period_start, li.service_period_end, li.amount_in_cents, li.quantity, "
             "li.discount_amount_in_cents, li.tax_amount_in_cents, li.prorated, li.external_id, "
             "li.description FROM line_items li JOIN invoices i ON i.id = li.invoice_id "
             "LEFT JOIN subscriptions s ON s.id = li.subscription_id "
             "LEFT JOIN plans p ON p.id = li.plan_id",
    "transactions": "SELECT i.external_id, t.position, t.type, t.result, t.date, "
                    "t.amount_in_cents, t.external_id "
                    "FROM transactions t JOIN invoices i ON i.id = t.invoice_id",
    "subscriptions": "SELECT c.external_id, s.external_id, p.external_id, s.cancellation_dates "
                     "FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                     "LEFT JOIN plans p ON p.id = s.plan_id",
    # every uuid the pushed map names is in the store (checked against the state below)
    "uuids": "SELECT uuid FROM customers UNION ALL SELECT uuid FROM plans "
             "UNION ALL SELECT uuid FROM invoices",
}
STATE_QUERIES = {
    "mirror": "SELECT connection, kind, external_id, customer_external_id, doc, hash "
              "FROM source_records",
    "pushed": "SELECT kind, external_id, hash FROM pushed",
    "pushed_ids": "SELECT destination_id FROM pushed WHERE destination_id IS NOT NULL",
    "dirty": "SELECT customer_external_id FROM dirty_customers",
    "rechecks": "SELECT customer_external_id, due_at FROM rechecks",
    "review": "SELECT key, kind, external_id, customer_external_id, reason, field, message "
              "FROM review",
    "cancellations": "SELECT subscription_external_id, customer_external_id, cancelled_at "
                     "FROM cancellation_history",
    "cursors": "SELECT connection, stream, value FROM cursors",
    "runs": "SELECT connection, mode, dry_run, status FROM runs",
}


def contents(path: Path, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {name: sorted(db.execute(sql).fetchall(), key=repr)
                for name, sql in queries.items()}
    finally:
        db.close()


def synced(run_cli: RunCli, folder: Path, data: Path, workers: int,
           *args: str) -> dict[str, Any]:
    """A first real sync into a fresh state and store: its report, and what it wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, data)
    report = run_json(run_cli, *(args or ("sync",)), "--config", str(config),
                      "--workers", str(workers))
    report.pop("duration_s")
    store = contents(folder / "store" / "analytics.db", STORE_QUERIES)
    state = contents(folder / "state" / "state.db", STATE_QUERIES)
    assert {row[0] for row in state.pop("pushed_ids")} <= {row[0] for row in store.pop("uuids")}
    leftovers = [p.name for p in (folder / "state").iterdir() if p.name.startswith(".saasync")]
    assert leftovers == []  # the scratch folder is gone
    return {"report": report, "store": store, "state": state}


class Splits:
    """How many parts each real run was split into (1: not split)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[int] = []
        real = split.split_count

        def counting(*args: Any) -> int:
            count = real(*args)
            self.seen.append(count)
            return count

        monkeypatch.setattr(split, "split_count", counting)


def awkward_data(folder: Path, seed: int = 5, *, grouped: bool = False) -> Path:
    """Generated data, with a customer with no invoice, one sorting last, a bad row, and
    a duplicate invoice id: what must come out of the merge exactly as from one process.
    ``grouped``: the invoices stay grouped by customer as exported; else they are shuffled,
    with a bad row naming no customer."""
    data = generated(folder, seed=seed)
    rows = with_edge_rows(data)
    rows.append(json.dumps({**json.loads(rows[-1]),
                            "external_id": json.loads(rows[0])["external_id"]}))
    if not grouped:
        rows.append(json.dumps({"external_id": "inv_orphan", "status": "paid"}))  # no customer
        random.Random(seed).shuffle(rows)  # the order does not matter to a real sync
    (data / "invoices.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return data


@pytest.mark.parametrize(("workers", "grouped"), [(2, True), (3, True), (2, False), (3, False)])
def test_a_split_first_sync_writes_and_says_what_one_process_does(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, workers: int,
        grouped: bool) -> None:
    data = awkward_data(tmp_path / "data", grouped=grouped)
    splits = Splits(monkeypatch)
    one = synced(run_cli, tmp_path / "one", data, 1)
    parts = synced(run_cli, tmp_path / "parts", data, workers)
    assert splits.seen == [1, workers]
    # the files row for row; the report's lists as sets, as for a split dry run
    assert parts["store"] == one["store"] and parts["state"] == one["state"]
    assert comparable(parts["report"]) == comparable(one["report"])
    assert parts["report"]["cursor"] == one["report"]["cursor"]
    report = one["report"]
    assert report["counts"]["balanced"] and report["counts"]["quarantined"]
    assert report["changes"]["created"] > 100 and one["state"]["cursors"]
    assert one["state"]["review"] and one["state"]["dirty"] == []


def test_a_split_backfill_writes_what_one_process_does(tmp_path: Path, run_cli: RunCli) -> None:
    data = awkward_data(tmp_path / "data", seed=8)
    args = ("backfill", "--since", "2020-01-01")
    parts = synced(run_cli, tmp_path / "parts", data, 2, *args)
    one = synced(run_cli, tmp_path / "one", data, 1, *args)
    assert parts["store"] == one["store"] and parts["state"] == one["state"]
    assert comparable(parts["report"]) == comparable(one["report"])


def test_the_parts_write_scratch_files_without_fsync(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a part writes is thrown away unless every part finished, so its state and store
    are never fsynced; the files the run merges into keep their durability."""
    seen = tmp_path / "seen"  # written by the parts: they are other processes
    real = split.run_split

    def watching(*args: Any, part_engine: Any, **kwargs: Any) -> Any:
        def engine(index: int, total: int, state: Any, store: Any, *rest: Any) -> Any:
            store.hold_commits()  # as the engine does for a backfill
            modes = (state.db.execute("PRAGMA synchronous").fetchone()[0],
                     store.db.conn.execute("PRAGMA synchronous").fetchone()[0],
                     store.db.conn.execute("PRAGMA journal_mode").fetchone()[0])
            with seen.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(modes) + "\n")
            return part_engine(index, total, state, store, *rest)
        return real(*args, part_engine=engine, **kwargs)

    monkeypatch.setattr(split, "run_split", watching)
    data = awkward_data(tmp_path / "data")
    parts = synced(run_cli, tmp_path / "parts", data, 2)
    assert seen.read_text(encoding="utf-8").splitlines() == ['[0, 0, "memory"]'] * 2
    one = synced(run_cli, tmp_path / "one", data, 1)
    assert parts["store"] == one["store"] and parts["state"] == one["state"]
    store = sqlite3.connect(tmp_path / "parts" / "store" / "analytics.db")
    try:
        assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_after_a_split_sync_the_next_runs_are_one_process_and_find_nothing_new(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    data = awkward_data(tmp_path / "data")
    config = write_config(tmp_path, data)
    splits = Splits(monkeypatch)
    first = run_json(run_cli, "sync", "--config", str(config), "--workers", "2")
    again = run_json(run_cli, "sync", "--config", str(config), "--workers", "2")
    assert splits.seen == [2, 1]
    assert first["changes"]["created"] > 0
    assert again["changes"]["created"] == again["changes"]["updated"] == 0
    assert again["source_unchanged"]


def test_a_process_running_other_threads_syncs_in_one_process(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run in a Celery worker's thread pool, or beside a lock's heartbeat, must not fork:
    a child holds only the forking thread, and a lock another thread held then (stderr's,
    a logger's) stays held in the child, which hangs on its first write."""
    data = awkward_data(tmp_path / "data")
    splits = Splits(monkeypatch)
    done = threading.Event()
    other = threading.Thread(target=done.wait, name="heartbeat", daemon=True)
    other.start()
    try:
        beside = synced(run_cli, tmp_path / "beside", data, 2)
        code, _, err = run_cli("sync", "--dry-run", "--config", str(write_config(tmp_path, data)),
                               "--workers", "2", "--json")
    finally:
        done.set()
        other.join()
    assert splits.seen == [1] and code == 0
    assert "other threads are running in this process (heartbeat)" in err
    assert '"partitions"' not in err  # the dry run read in one process too
    one = synced(run_cli, tmp_path / "one", data, 1)
    assert beside["store"] == one["store"] and beside["state"] == one["state"]


def test_a_store_holding_the_data_source_already_is_synced_in_one_process(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh state beside a store that holds the data source's records (a state file
    lost, or a crash between the merge's two commits): the ordinary path, which finds the
    invoices there with the same content and accepts them."""
    data = awkward_data(tmp_path / "data")
    config = write_config(tmp_path, data)
    run_json(run_cli, "sync", "--config", str(config), "--workers", "2")
    (tmp_path / "state" / "state.db").unlink()
    splits = Splits(monkeypatch)
    again = run_json(run_cli, "sync", "--config", str(config), "--workers", "2")
    assert splits.seen == [1] and again["status"] in ("ok", "partial")
    store = contents(tmp_path / "store" / "analytics.db", STORE_QUERIES)
    expected = synced(run_cli, tmp_path / "one", data, 1)["store"]
    store.pop("uuids")
    assert store == expected


def test_a_part_that_fails_leaves_the_state_and_the_store_as_they_were(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    data = awkward_data(tmp_path / "data")
    config = write_config(tmp_path, data)
    from saasync.engine import Engine

    real = Engine._build_and_send

    def failing(self: Engine, customer_id: str, *args: Any) -> None:
        if self.partition is not None and self.partition[0] == 1:
            raise RuntimeError("disk on fire")
        real(self, customer_id, *args)

    monkeypatch.setattr(Engine, "_build_and_send", failing)
    code, _, err = run_cli("sync", "--config", str(config), "--workers", "2")
    assert code != 0 and "disk on fire" in err
    store = contents(tmp_path / "store" / "analytics.db", STORE_QUERIES)
    assert all(rows == [] for name, rows in store.items() if name != "data_sources")
    state = contents(tmp_path / "state" / "state.db", STATE_QUERIES)
    assert state["runs"] == [("sample", "sync", 0, "failed")]
    assert all(rows == [] for name, rows in state.items() if name != "runs")
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.startswith(".saasync")]
    monkeypatch.setattr(Engine, "_build_and_send", real)
    run_json(run_cli, "sync", "--config", str(config), "--workers", "2")  # starts again
    store = contents(tmp_path / "store" / "analytics.db", STORE_QUERIES)
    store.pop("uuids")
    assert store == synced(run_cli, tmp_path / "one", data, 1)["store"]


def test_a_stopped_split_sync_keeps_what_its_parts_finished_and_the_cursor(
        tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync.engine import Engine
    from saasync.runner import run_connection
    from saasync.settings import load_settings

    data = awkward_data(tmp_path / "data")
    config = write_config(tmp_path, data)
    settings = load_settings(config)
    name, conn = settings.connection(None)
    real = Engine._build_and_send

    def slow(self: Engine, *args: Any) -> None:
        time.sleep(0.05)  # the parent asks to stop while the parts are half way
        real(self, *args)

    monkeypatch.setattr(Engine, "_build_and_send", slow)
    report = run_connection(settings, name, conn, mode="sync", dry_run=False, workers=2,
                            should_stop=lambda: True)
    assert report.status == "stopped" and report.counts()["balanced"]
    assert 0 < report.changes()["created"]
    state = contents(tmp_path / "state" / "state.db", STATE_QUERIES)
    assert state["cursors"] == [] and state["pushed"]  # the next run reads everything again
    monkeypatch.setattr(Engine, "_build_and_send", real)
    run_json(run_cli, "sync", "--config", str(config))  # one process: not a first sync now
    store = contents(tmp_path / "store" / "analytics.db", STORE_QUERIES)
    store.pop("uuids")
    assert store == synced(run_cli, tmp_path / "one", data, 1)["store"]


def test_merge_refuses_a_part_of_another_data_source(tmp_path: Path) -> None:
    from saasync.destinations.local.store import LocalStore
    from saasync.models import Customer

    with LocalStore(tmp_path / "part.db") as part:
        part.ensure_data_source("other")
        part.ensure_data_source("mine")
        part.select_data_source("other")
        part.upsert_customer(Customer(external_id="c1", name="C"))
    with LocalStore(tmp_path / "main.db") as main:
        main.ensure_data_source("first")
        main.ensure_data_source("mine")
        ds = main.db.conn.execute("SELECT id FROM data_sources WHERE name = 'mine'").fetchone()[0]
        with pytest.raises(Exception, match="another data source"):
            merge.merge_parts(main.db.conn, int(ds), [tmp_path / "part.db"])
        assert main.db.conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
