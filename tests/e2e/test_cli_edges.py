"""Issue #17, a CLI without rough edges: options the README promises, usage errors,
pipes, and output a person reads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import RunCli, run_json, write_config

SECOND = """
[connections.other]
connector = "files"
schedule = "0 0 1 1 *"

[connections.other.options]
path = "{data}"

[connections.other.destination]
type = "local"
path = "store/other.db"
data_source = "other"
"""


def two_connections(tmp_path: Path, sample_dir: Path) -> Path:
    config = write_config(tmp_path, sample_dir)
    config.write_text(config.read_text("utf-8") + SECOND.format(data=sample_dir.as_posix()), "utf-8")
    return config


def test_status_takes_connection(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = two_connections(tmp_path, sample_dir)
    assert len(run_json(run_cli, "status", "--config", str(config))) == 2
    rows = run_json(run_cli, "status", "--config", str(config), "--connection", "other")
    assert [r["connection"] for r in rows] == ["other"]
    code, _, err = run_cli("status", "--config", str(config), "--connection", "nope")
    assert code == 2 and "nope" in err


def test_unlock_takes_connection_and_still_the_positional_name(config: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("unlock", "--config", str(config), "--connection", "sample")
    assert code == 0 and "'sample'" in out
    code, out, _ = run_cli("unlock", "--config", str(config), "sample")
    assert code == 0 and "'sample'" in out
    code, _, err = run_cli("unlock", "--config", str(config))
    assert code == 2 and "--connection" in err
    code, _, err = run_cli("unlock", "--config", str(config), "--connection", "sample", "other")
    assert code == 2 and "--connection" in err


def test_schedule_takes_connection(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = two_connections(tmp_path, sample_dir)
    code, _, err = run_cli("schedule", "--config", str(config), "--connection", "nope")
    assert code == 2 and "nope" in err
    # `sample` has no schedule: naming it is a config error, not a silent run of `other`
    code, _, err = run_cli("schedule", "--config", str(config), "--connection", "sample")
    assert code == 2 and "schedule" in err and "sample" in err


def test_schedule_uses_the_default_config(tmp_path: Path, run_cli: RunCli,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("schedule", "--max-runs", "1")
    # the embedded sample setup has no `schedule`: the same error as any such config
    assert code == 2 and "Missing option" not in err and "no connection has a `schedule`" in err


@pytest.mark.parametrize("months", ["0", "-2"])
def test_metrics_months_below_one_is_a_usage_error(config: Path, run_cli: RunCli, months: str) -> None:
    code, out, err = run_cli("metrics", "--config", str(config), "--months", months)
    assert code == 2 and "--months" in err and out == ""


def _piped(config: Path, *args: str, close_reader: bool) -> tuple[int, str, str]:
    """Run saasync in a real process whose stdout is a pipe: read by ``head -1``, or with
    its reading end already closed (every write then hits a broken pipe)."""
    command = [sys.executable, "-m", "saasync", *args, "--config", str(config)]
    if close_reader:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True,
                                  timeout=60, check=False)
        finally:
            os.close(write_end)
        return proc.returncode, "", proc.stderr
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE, text=True)
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.close()
    out, _ = head.communicate(timeout=60)
    err = producer.stderr.read()
    return producer.wait(timeout=60), out, err


@pytest.mark.parametrize("args", [("review",), ("review", "--json"), ("metrics",),
                                  ("metrics", "--json"), ("runs",)])
def test_a_closed_pipe_exits_0_quietly(config: Path, run_cli: RunCli, args: tuple[str, ...]) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    code, _, err = _piped(config, *args, close_reader=True)
    assert "Traceback" not in err and "Exception ignored" not in err and "error" not in err, err
    assert code == 0


def test_piping_to_head_exits_0_quietly(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    code, out, err = _piped(config, "metrics", "--months", "600", close_reader=False)
    assert "Metrics at" in out and len(out.splitlines()) == 1
    assert "Traceback" not in err and "Exception ignored" not in err and "error" not in err, err
    assert code == 0


def test_review_table_does_not_repeat_record_and_field_in_the_message(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    code, out, _ = run_cli("review", "--config", str(config))
    assert code == 0
    row = next(line for line in out.splitlines() if "inv_bad_date_1" in line)
    assert "issued_at" in row and "not a date or" in row  # the field, then the message (wrapped)
    assert "'inv_bad_date_1'" not in out and "field 'issued_at'" not in out
    assert "field 'status'" not in out and "unknown invoice status" in out


def test_review_json_names_the_customer_of_each_record(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    items = run_json(run_cli, "review", "--config", str(config))
    assert items and all(i["customer_external_id"] for i in items)
    by_id = {i["external_id"]: i for i in items}
    assert by_id["inv_bad_date_1"]["customer_external_id"] == "cus_bad_date"
    assert all(i["customer_external_id"] == i["raw"]["customer_external_id"] for i in items)
    # the message stays whole in JSON
    assert by_id["inv_bad_date_1"]["message"].startswith("invoice 'inv_bad_date_1': field 'issued_at'")


@pytest.mark.parametrize("dry_run", [False, True])
def test_run_json_has_one_shape_for_skipped_and_quarantined(config: Path, run_cli: RunCli,
                                                            dry_run: bool) -> None:
    args = ("backfill", "--config", str(config), "--since", "2020-01-01")
    report = run_json(run_cli, *args, *(("--dry-run",) if dry_run else ()))
    counts = report["counts"]
    # counts: {reason: n}; the records themselves: *_records lists; nothing else by those names
    assert "skipped" not in report and "quarantined" not in report
    for outcome in ("skipped", "quarantined"):
        assert isinstance(counts[outcome], dict) and counts[outcome]
        records = report[f"{outcome}_records"]
        assert isinstance(records, list) and len(records) == sum(counts[outcome].values())
        by_reason: dict[str, int] = {}
        for record in records:
            assert set(record) >= {"kind", "external_id", "reason"}
            by_reason[record["reason"]] = by_reason.get(record["reason"], 0) + 1
        assert by_reason == counts[outcome]


def test_a_sync_during_a_backfill_exits_4_even_when_the_source_is_unchanged(
        config: Path, run_cli: RunCli) -> None:
    from saasync.state import StateStore

    run_json(run_cli, "sync", "--config", str(config))
    state_path = config.parent / "state" / "state.db"
    holder = subprocess.Popen(  # another process, in the middle of a backfill: holds the lock
        [sys.executable, "-c", ("import sys; from saasync.state import StateStore\n"
                                f"with StateStore({str(state_path)!r}) as s, s.lock('sample'):\n"
                                "    print('locked', flush=True); sys.stdin.read()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with StateStore(state_path, read_only=True) as state:
            runs_before = len(state.runs("sample", 100))
        code, out, err = run_cli("sync", "--config", str(config), "--json")
        with StateStore(state_path, read_only=True) as state:
            assert len(state.runs("sample", 100)) == runs_before  # no run recorded
    finally:
        holder.communicate("", timeout=30)
    assert code == 4 and "already being synced" in err and out == ""


def test_an_unchanged_source_shows_in_the_report(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    for dry_run in ((), ("--dry-run", "--workers", "1")):
        code, out, _ = run_cli("sync", "--config", str(config), *dry_run)
        assert code == 0 and "Source unchanged since the last sync: nothing was read" in out


def test_a_parallel_dry_run_says_source_unchanged_once(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    proc = subprocess.run([sys.executable, "-m", "saasync", "--log-json", "sync", "--config",
                           str(config), "--dry-run", "--workers", "2"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line)["event"] for line in proc.stderr.splitlines() if line.startswith("{")]
    assert events.count("partition finished") == 2  # both workers ran and logged
    assert sum("source unchanged" in e for e in events) == 1
    assert "Source unchanged since the last sync" in proc.stdout


FRACTION = re.compile(r"\d{2}:\d{2}:\d{2}\.\d")


def test_times_a_person_reads_have_no_microseconds(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    outputs = {
        "sync": run_cli("sync", "--config", str(config)).out,  # window: since the cursor
        "status": run_cli("status", "--config", str(config)).out,
        "runs": run_cli("runs", "--config", str(config)).out,
        "explain": run_cli("explain", "cus_bad_date", "--config", str(config)).out,
    }
    for name, out in outputs.items():
        assert out and not FRACTION.search(out), (name, out)
        assert "+00:00" not in out, (name, out)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", outputs["status"])
    assert re.search(r"window \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC -> now", outputs["sync"])
