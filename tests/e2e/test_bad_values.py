"""One bad value never stops a run: extreme dates, epochs, amounts and nesting are
quarantined naming their record and field, the run goes on, later runs too (issue #15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e import test_parallel_dry_run as parallel
from tests.e2e.conftest import RunCli, run_json, write_config
from tests.e2e.test_parallel_dry_run import comparable, dry_run

jsonl_dir = parallel.jsonl_dir  # the generated JSON Lines export, as a fixture here too

HEADER = "external_id,customer_external_id,issued_at,due_at,currency,status\n"
LINE_HEADER = ("invoice_external_id,external_id,kind,subscription_external_id,plan_external_id,"
               "service_period_start,service_period_end,quantity,amount\n")


def csv_export(folder: Path, *, issued_at: str = "2026-10-01T00:00:00Z",
               amount: str = "100.00") -> Path:
    """A CSV export with a good invoice and one whose ``issued_at`` / line ``amount`` is given."""
    data = folder / "data"
    data.mkdir()
    (data / "plans.csv").write_text("external_id,name,interval_unit\ngrowth,Growth,month\n")
    (data / "customers.csv").write_text("external_id,name\ncus_1,Ann\ncus_2,Bo\n")
    (data / "invoices.csv").write_text(
        HEADER + "inv_ok,cus_1,2026-10-01T00:00:00Z,,USD,paid\n"
        f"inv_bad,cus_2,{issued_at},,USD,paid\n"
    )
    (data / "invoice_lines.csv").write_text(
        LINE_HEADER
        + "inv_ok,l1,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,100.00\n"
        + f"inv_bad,l2,subscription,sub_2,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,{amount}\n"
    )
    return data


def assert_quarantined(tmp_path: Path, run_cli: RunCli, data: Path, field: str, needle: str) -> None:
    config = write_config(tmp_path, data)
    for args in (("sync", "--dry-run"), ("sync",), ("sync",), ("backfill", "--since", "2000-01-01")):
        report = run_json(run_cli, *args, "--config", str(config))  # exit 0 every time
        counts = report["counts"]
        assert counts["balanced"], counts
        if not report.get("source_unchanged"):
            assert counts["quarantined"] == {"INVALID_RECORD": 1}, counts
    assert report["by_kind"]["invoice"] == {"read": 2, "quarantined": 1, "unchanged": 1}
    (item,) = run_json(run_cli, "review", "--config", str(config))
    assert (item["external_id"], item["field"], item["reason"]) == ("inv_bad", field, "INVALID_RECORD")
    assert needle in item["message"] and "inv_bad" in item["message"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [("0001-01-01T00:00:00+05:00", "out of range"), ("9999-12-31T23:00:00-05:00", "out of range"),
     ("99999999999999999999", "out of range")],
)  # fmt: skip
def test_far_future_offset_date_is_quarantined_naming_field(
    tmp_path: Path, run_cli: RunCli, value: str, needle: str
) -> None:
    assert_quarantined(tmp_path, run_cli, csv_export(tmp_path, issued_at=value), "issued_at", needle)


@pytest.mark.parametrize("amount", ["99999999999999999999.00", "1E+30", "1E+999999", "-1E+999999"])
def test_amount_above_int64_is_quarantined_naming_field(
    tmp_path: Path, run_cli: RunCli, amount: str
) -> None:
    data = csv_export(tmp_path, amount=amount)
    assert_quarantined(tmp_path, run_cli, data, "lines.amount", "too large")


def test_deeply_nested_json_line_is_quarantined(tmp_path: Path, run_cli: RunCli) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "plans.jsonl").write_text('{"external_id": "growth", "name": "Growth", "interval_unit": "month"}\n')
    (data / "customers.jsonl").write_text('{"external_id": "cus_1", "name": "Ann"}\n{"external_id": "cus_2"}\n')
    line = {"kind": "subscription", "subscription_external_id": "sub_1", "plan_external_id": "growth",
            "service_period_start": "2026-10-01", "service_period_end": "2026-11-01", "amount": "10.00"}
    good = {"external_id": "inv_ok", "customer_external_id": "cus_1", "issued_at": "2026-10-01",
            "currency": "USD", "status": "paid", "lines": [line]}
    deep = json.dumps({**good, "external_id": "inv_bad", "customer_external_id": "cus_2"})
    deep = deep[:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (data / "invoices.jsonl").write_text(json.dumps(good) + "\n" + deep + "\n")
    config = write_config(tmp_path, data)
    for args in (("sync", "--dry-run"), ("sync",), ("sync",)):
        report = run_json(run_cli, *args, "--config", str(config))
        assert report["counts"]["balanced"]
        if not report.get("source_unchanged"):
            assert report["counts"]["quarantined"] == {"INVALID_RECORD": 1}
    (item,) = run_json(run_cli, "review", "--config", str(config))
    assert item["location"] == "invoices.jsonl line 2"
    assert "nested" in item["message"]


def _with_encoding(config: Path, encoding: str) -> Path:
    text = config.read_text().replace("[connections.sample.options]\n",
                                      f'[connections.sample.options]\nencoding = "{encoding}"\n')
    config.write_text(text)
    return config


def _reencode(directory: Path, encoding: str) -> None:
    for path in directory.iterdir():
        if path.is_file():
            path.write_bytes(path.read_text("utf-8").encode(encoding))


def test_utf16_export_is_read_by_sync(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    plain = run_json(run_cli, "sync", "--dry-run", "--config", str(write_config(tmp_path, sample_dir)))
    _reencode(sample_dir, "utf-16")
    config = _with_encoding(write_config(tmp_path, sample_dir), "utf-16")
    report = run_json(run_cli, "sync", "--config", str(config))
    assert report["counts"] == plain["counts"] and report["counts"]["pushed"] > 100


def test_utf16_partitioned_dry_run_equals_one_process(tmp_path: Path, jsonl_dir: Path,
                                                      run_cli: RunCli) -> None:
    one = dry_run(run_cli, write_config(tmp_path, jsonl_dir), 1)
    _reencode(jsonl_dir, "utf-16")
    config = _with_encoding(write_config(tmp_path, jsonl_dir), "utf-16")
    two = dry_run(run_cli, config, 2)
    assert comparable(two) == comparable(one)
    assert one["counts"]["read"] > 500
