"""Bad rows go to the review queue with file, row, field and reason; the run goes on; counts add up."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import RunCli, run_json, write_config

INVOICES = """external_id,customer_external_id,issued_at,due_at,currency,status,discount_amount,discount_code,updated_at
inv_ok,cus_1,2026-10-01T00:00:00Z,,USD,paid,,,
inv_bad_date,cus_1,2026-02-30,,USD,paid,,,
inv_bad_status,cus_1,2026-10-01T00:00:00Z,,USD,awaiting_approval,,,
inv_no_currency,cus_1,2026-10-01T00:00:00Z,,,paid,,,
inv_neg_qty,cus_1,2026-10-01T00:00:00Z,,USD,paid,,,
"""
LINES = """invoice_external_id,external_id,kind,subscription_external_id,plan_external_id,service_period_start,service_period_end,quantity,prorated,amount,discount_amount,tax_amount,description
inv_ok,l1,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,false,100.00,,,
inv_bad_date,l2,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,false,100.00,,,
inv_bad_status,l3,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,false,100.00,,,
inv_no_currency,l4,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,1,false,100.00,,,
inv_neg_qty,l5,subscription,sub_1,growth,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,-2,false,100.00,,,
"""


def make_data(folder: Path) -> Path:
    data = folder / "data"
    data.mkdir()
    (data / "plans.csv").write_text("external_id,name,interval_unit,interval_count\ngrowth,Growth,month,1\n")
    customers = "external_id,name,email\ncus_1,Ann,ann@example.com\ncus_2,B\xe9atrice,b@example.com\n"
    # a Latin-1 export: the second customer's row is not UTF-8
    (data / "customers.csv").write_bytes(customers.encode("latin-1"))
    (data / "invoices.csv").write_text(INVOICES)
    (data / "invoice_lines.csv").write_text(LINES)
    (data / "transactions.csv").write_text(
        "invoice_external_id,external_id,type,result,date,amount\ninv_ok,t1,payment,successful,2026-10-01T00:00:00Z,100.00\n"
    )
    return data


def test_bad_rows_are_quarantined_with_clear_reasons(tmp_path: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, make_data(tmp_path))
    report = run_json(run_cli, "sync", "--config", str(config))
    counts = report["counts"]
    assert counts["balanced"]
    assert counts["quarantined"] == {"INVALID_RECORD": 4, "UNKNOWN_STATUS": 1}
    assert report["by_kind"]["invoice"]["pushed"] == 1  # inv_ok went through
    items = {i["external_id"] or i["location"]: i for i in run_json(run_cli, "review", "--config", str(config))}
    assert items["inv_bad_date"]["field"] == "issued_at" and "2026-02-30" in items["inv_bad_date"]["message"]
    assert items["inv_bad_status"]["reason"] == "UNKNOWN_STATUS"
    assert "awaiting_approval" in items["inv_bad_status"]["message"]
    assert items["inv_no_currency"]["field"] == "currency"
    assert items["inv_neg_qty"]["field"] == "lines.quantity"
    assert "invoice_lines.csv row" in items["inv_neg_qty"]["location"]
    undecodable = [i for i in items.values() if i["location"] and i["location"].startswith("customers.csv")]
    assert len(undecodable) == 1 and "UTF-8" in undecodable[0]["message"].upper()
    # every item names the record and the field in its message
    for item in items.values():
        assert item["message"] and item["reason"]


def test_fixing_a_bad_row_clears_it_from_the_review_queue(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_data(tmp_path)
    config = write_config(tmp_path, data)
    run_json(run_cli, "sync", "--config", str(config))
    fixed = INVOICES.replace("2026-02-30", "2026-02-28T00:00:00Z").replace("inv_bad_date,cus_1", "inv_bad_date,cus_1")
    (data / "invoices.csv").write_text(fixed)
    report = run_json(run_cli, "backfill", "--config", str(config), "--since", "2020-01-01")
    assert report["counts"]["quarantined"] == {"INVALID_RECORD": 3, "UNKNOWN_STATUS": 1}
    keys = {i["external_id"] for i in run_json(run_cli, "review", "--config", str(config))}
    assert "inv_bad_date" not in keys
