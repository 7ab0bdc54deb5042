"""A scheduled run over export files that did not change reads nothing (issue #9, target 4)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import RunCli, run_json, write_config


def test_unchanged_files_are_not_read_again(config: Path, run_cli: RunCli) -> None:
    first = run_json(run_cli, "sync", "--config", str(config))
    assert "source_unchanged" not in first and first["counts"]["read"] > 1000
    again = run_json(run_cli, "sync", "--config", str(config))
    assert again["source_unchanged"] is True
    assert again["counts"]["read"] == 0 and sum(again["changes"].values()) == 0
    assert again["cursor"]["after"] == first["cursor"]["after"]
    preview = run_json(run_cli, "sync", "--config", str(config), "--dry-run")
    assert preview["source_unchanged"] is True and preview["counts"]["read"] == 0


def test_a_changed_file_is_read_and_its_change_pushed(config: Path, sample_dir: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    customers = sample_dir / "customers.csv"
    header, first_row, *rest = customers.read_text(encoding="utf-8").splitlines()
    cells = first_row.split(",")
    names = header.split(",")
    cells[names.index("name")] = "Renamed Ltd"
    cells[names.index("updated_at")] = "2099-01-01T00:00:00Z"
    customers.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    report = run_json(run_cli, "sync", "--config", str(config))
    assert "source_unchanged" not in report
    assert report["changes"]["updated"] == 1
    assert report["counts"]["read"] >= 1


def test_a_changed_rule_setting_reads_the_source_again(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, sample_dir, open_invoices="exclude")
    run_json(run_cli, "sync", "--config", str(config))
    config = write_config(tmp_path, sample_dir, open_invoices="include")
    report = run_json(run_cli, "sync", "--config", str(config))
    assert "source_unchanged" not in report


def test_backfill_always_reads(config: Path, run_cli: RunCli) -> None:
    run_json(run_cli, "sync", "--config", str(config))
    report = run_json(run_cli, "backfill", "--config", str(config), "--since", "2020-01-01")
    assert "source_unchanged" not in report and report["counts"]["read"] > 1000
