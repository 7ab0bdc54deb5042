"""End to end through the CLI, in-process, on the bundled sample data into the local store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from saasync.destinations.local import LocalStore
from saasync.state import StateStore
from tests.e2e.conftest import RunCli, run_json


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sync_pushes_everything_and_the_counts_add_up(config: Path, run_cli: RunCli) -> None:
    report = run_json(run_cli, "sync", "--config", str(config))
    counts = report["counts"]
    assert counts["balanced"] is True
    assert counts["read"] == counts["pushed"] + counts["unchanged"] + sum(counts["skipped"].values()) + sum(
        counts["quarantined"].values()
    )
    assert counts["pushed"] > 1000
    # the three deliberately bad rows of the sample, and nothing else, are quarantined
    assert sum(counts["quarantined"].values()) == 3
    for reason in ("DRAFT", "VOIDED", "FAILED", "ONE_TIME_ONLY", "OPEN_EXCLUDED", "ZERO_FIRST_INVOICE",
                   "FULLY_DISCOUNTED"):
        assert reason in counts["skipped"], reason
    assert report["changes"]["created"] > 1000 and report["changes"]["cancelled"] > 0


def test_second_sync_with_no_source_change_writes_nothing(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    store = config.parent / "store"
    before = digest(store)
    again = run_json(run_cli, "sync", "--config", str(config))
    assert again["counts"]["pushed"] == 0
    assert sum(again["changes"].values()) == 0
    assert digest(store) == before
    full = run_json(run_cli, "backfill", "--config", str(config), "--since", "2020-01-01")
    assert full["counts"]["pushed"] == 0 and sum(full["changes"].values()) == 0
    assert full["counts"]["read"] > 1000
    assert digest(store) == before


def test_dry_run_writes_nothing_anywhere(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    before = digest(config.parent)
    report = run_json(run_cli, "backfill", "--config", str(config), "--since", "2020-01-01", "--dry-run")
    assert report["dry_run"] is True
    assert digest(config.parent) == before


def test_dry_run_diff_matches_what_the_real_run_then_does(config: Path, run_cli: RunCli) -> None:
    state_dir = config.parent / "state"
    planned = run_json(run_cli, "sync", "--config", str(config), "--dry-run")
    assert not state_dir.exists(), "a dry run on a fresh setup must not even create the state"
    done = run_json(run_cli, "sync", "--config", str(config))
    assert planned["changes"] == done["changes"]
    assert planned["counts"] == done["counts"]
    assert [op for op in planned["ops"]] == [op for op in done["ops"]]


def test_dry_run_table_shows_changes_and_reasons(config: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("sync", "--config", str(config), "--dry-run")
    assert code == 0
    assert "Dry run: nothing was written" in out
    assert "OPEN_EXCLUDED" in out and "balanced" in out


def test_backfill_leaves_the_cursor_where_it_was(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    with StateStore(config.parent / "state" / "state.db") as state:
        cursor = state.get_cursor("sample")
    assert cursor is not None
    report = run_json(run_cli, "backfill", "--config", str(config), "--since", "2025-01-01", "--until", "2025-07-01")
    assert report["cursor"]["before"] == report["cursor"]["after"] == cursor
    with StateStore(config.parent / "state" / "state.db") as state:
        assert state.get_cursor("sample") == cursor


def test_runs_and_review_commands_show_history_and_the_queue(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    code, out, _ = run_cli("runs", "--config", str(config))
    assert code == 0 and "sync" in out and "ok" in out
    items = run_json(run_cli, "review", "--config", str(config))
    assert len(items) == 3
    assert all(i["reason"] and i["message"] and i["location"] for i in items)


def test_metrics_command_reports_per_currency(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    metrics = run_json(run_cli, "metrics", "--config", str(config), "--at", "2026-11-15", "--months", "3")
    assert set(metrics["mrr"]) == {"USD", "EUR", "JPY"}
    assert len(metrics["series"]) == 3
    with LocalStore(config.parent / "store" / "analytics.db") as store:
        assert store.counts()["customers"] == sum(metrics["customers"].values())


def test_metrics_command_adds_movements_and_a_converted_total(
    config: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    args = ("metrics", "--config", str(config), "--at", "2026-11-15", "--months", "3")
    plain = run_json(run_cli, *args)
    assert "total" not in plain and all("movements" in p for p in plain["series"])
    totalled = run_json(run_cli, *args, "--currency", "EUR")
    assert totalled["mrr"] == plain["mrr"]  # per-currency figures are left as they are
    assert totalled["total"]["currency"] == "EUR" and "sample" in totalled["total"]["rates"]
    assert 0 < totalled["total"]["mrr"] != sum(plain["mrr"].values())
    no_yen = tmp_path / "rates.csv"
    no_yen.write_text("date,currency,rate\n2020-01-01,USD,1\n2020-01-01,EUR,0.9\n", "utf-8")
    code, _, err = run_cli(*args, "--currency", "USD", "--fx-rates", str(no_yen))
    assert code == 2 and "JPY" in err


def test_exit_status_and_message_for_a_wrong_config(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.x]\nconnector = "files"\nopen_invoices = "maybe"\n', encoding="utf-8")
    code, _, err = run_cli("sync", "--config", str(bad))
    assert code == 2
    assert "connections.x.open_invoices" in err and "'maybe'" in err


def test_secrets_in_the_config_file_are_refused(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.x]\nconnector = "files"\n[connections.x.options]\napi_key = "sk_live_123"\n',
                   encoding="utf-8")
    code, _, err = run_cli("sync", "--config", str(bad))
    assert code == 2
    assert "api_key_env" in err and "sk_live_123" not in err


def test_unknown_connector_is_a_clear_config_error(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.x]\nconnector = "nope"\n', encoding="utf-8")
    code, _, err = run_cli("sync", "--config", str(bad))
    assert code == 2 and "unknown connector 'nope'" in err


def test_second_run_of_a_locked_connection_exits_with_a_clear_message(config: Path, run_cli: RunCli) -> None:
    import os
    import socket

    state_path = config.parent / "state" / "state.db"
    with StateStore(state_path) as state, state.db:
        state.db.execute(
            "INSERT INTO locks VALUES (?,?,?,?,?)",
            ("sample", "other", os.getppid(), socket.gethostname(), datetime.now(UTC).isoformat()),
        )
    code, _, err = run_cli("sync", "--config", str(config))
    assert code == 4 and "already being synced" in err
    assert run_cli("unlock", "--config", str(config), "sample")[0] == 0
    assert run_cli("sync", "--config", str(config), "--json")[0] == 0
