"""The bundled sample: deterministic, committed copy fresh, and SCENARIOS.md true.

The scenario table below is SCENARIOS.md as data: each customer's analytics status,
MRR and invoice decisions at T (the 15th of the end month), worked out by hand from
docs/rules.md and checked here against the rules in ``saasync.rules``.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from saasync.cli import main
from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.models import (
    AccountStatus,
    Customer,
    Invoice,
    Plan,
    SourceRecord,
    SourceSubscription,
    SubscriptionStatus,
)
from saasync.reasons import Reason
from saasync.rules.builder import RuleSettings, build_customer, histories_from
from saasync.rules.reconcile import missing_reason
from saasync.rules.status import (
    customer_status,
    subscription_mrr,
    subscription_status,
    views_for_customer,
)
from saasync_connectors.files.columns import COLUMNS
from saasync_connectors.files.connector import FilesConnector
from saasync_connectors.files.sample.writers import generate

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "sample_data"  # the frozen copy
SCENARIOS_MD = resources.files("saasync_connectors.files.sample").joinpath("SCENARIOS.md")
COMMITTED_END = date(2026, 11, 1)
GENERATED = [f"{table}.csv" for table in COLUMNS]

# customer: (status, MRR per currency, {invoice suffix: "send" | "skip REASON" | "hold REASON"})
# at T with open_invoices="exclude"; INCLUDE lists what open_invoices="include" changes.
S, EX = "send", "hold OPEN_EXCLUDED"
SCENARIOS: dict[str, tuple[str, dict[str, int], dict[str, str]]] = {
    "steady_monthly": ("Active", {"USD": 10000}, dict.fromkeys("123456", S)),
    "trial_then_paid": ("Active", {"USD": 10000}, {"1": "skip ZERO_FIRST_INVOICE", "2": S, "3": S}),
    "trial_running": ("Lead", {}, {"1": "skip ZERO_AMOUNT"}),
    "trial_cancelled": ("Lead", {}, {"1": "skip ZERO_AMOUNT"}),
    "trial_no_invoice": ("Lead", {}, {}),
    "full_coupon": ("Lead", {}, dict.fromkeys("123", "skip FULLY_DISCOUNTED")),
    "partial_coupon": ("Active", {"USD": 7500}, dict.fromkeys("123", S)),
    "invoice_coupon": ("Active", {"USD": 26153}, dict.fromkeys("12", S)),
    "setup_fee": ("Active", {"USD": 10000}, dict.fromkeys("1234", S)),
    "one_time_only": ("Lead", {}, dict.fromkeys("12", "skip ONE_TIME_ONLY")),
    "one_time_sub": ("Lead", {}, {"1": "skip ONE_TIME_ONLY"}),
    "no_active_invoice": ("Lead", {}, {"1": "skip VOIDED", "2": "skip FAILED", "3": "skip DRAFT"}),
    "voided_invoice": ("Active", {"USD": 10000}, {**dict.fromkeys("1234", S), "5": "skip VOIDED"}),
    "failed_then_cancelled": ("Cancelled", {}, {**dict.fromkeys("123", S), "4": "skip FAILED"}),
    "open_past_due": ("Past-Due", {"USD": 10000}, {**dict.fromkeys("123", S), "4": EX}),
    "open_failed_attempt": ("Past-Due", {"USD": 10000}, {"1": S, "2": S, "3": EX}),
    "open_not_due": ("Past-Due", {"USD": 2900}, {**dict.fromkeys("123", S), "4": EX}),
    "open_only": ("Lead", {}, {"1": EX}),
    "on_hold": ("Active", {"USD": 10000}, dict.fromkeys("123", S)),
    "paused_past_due": ("Past-Due", {"USD": 2900}, dict.fromkeys("123", S)),
    "cancelled": ("Cancelled", {}, dict.fromkeys("1234", S)),
    "reactivated": ("Active", {"USD": 10000}, dict.fromkeys("123456", S)),
    "seats": ("Active", {"USD": 9600}, dict.fromkeys("1234", S)),
    "upgrade": ("Active", {"USD": 10000}, dict.fromkeys("1234", S)),
    "downgrade_to_free": ("Active", {"USD": 0}, dict.fromkeys("1234", S)),
    "two_subs": ("Past-Due", {"USD": 12900}, {**dict.fromkeys("12345", S), "6": EX}),
    "yearly": ("Active", {"USD": 8333}, {"1": S}),
    "quarterly": ("Active", {"USD": 9000}, dict.fromkeys("12", S)),
    "eur_vat": ("Active", {"EUR": 9500}, dict.fromkeys("123", S)),
    "jpy": ("Active", {"JPY": 15000}, dict.fromkeys("123", S)),
    "audit_in_sync": ("Active", {"USD": 2900}, dict.fromkeys("123", S)),
    "audit_active_billing_off": ("Past-Due", {"USD": 2900}, dict.fromkeys("12", S)),
    "audit_active_suspended_sub": ("Past-Due", {"USD": 2900}, dict.fromkeys("123", S)),
    "audit_active_no_subs": ("Cancelled", {}, dict.fromkeys("12", S)),
    "audit_inactive_with_subs": ("Active", {"USD": 2900}, dict.fromkeys("1234", S)),
    "audit_lead_billing_on": ("Lead", {}, {}),
    "audit_pending_billing_on": ("Lead", {}, {}),
    "audit_pending_no_subs": ("Lead", {}, {}),
    "audit_suspended_active_sub": ("Active", {"USD": 2900}, dict.fromkeys("123", S)),
    "audit_suspended_no_subs": ("Cancelled", {}, dict.fromkeys("123", S)),
    "audit_suspended_in_sync": ("Past-Due", {"USD": 2900}, dict.fromkeys("123", S)),
    "audit_inactive_in_sync": ("Cancelled", {}, dict.fromkeys("123", S)),
    "bad_status": ("Lead", {}, {}),  # its only invoice is quarantined
    "bad_date": ("Active", {"USD": 10000}, dict.fromkeys("23", S)),  # _1 quarantined
    "bad_quantity": ("Past-Due", {"USD": 4800}, dict.fromkeys("12", S)),  # _3 quarantined
}
INCLUDE = {
    "open_past_due": ("Past-Due", {"USD": 10000}, dict.fromkeys("1234", S)),
    "open_failed_attempt": ("Past-Due", {"USD": 10000}, dict.fromkeys("123", S)),
    "open_not_due": ("Active", {"USD": 2900}, dict.fromkeys("1234", S)),
    "open_only": ("Active", {"USD": 29900}, {"1": S}),
    "two_subs": ("Past-Due", {"USD": 12900}, dict.fromkeys("123456", S)),
}
RECONCILE = {
    "sub_trial_no_invoice": Reason.NO_INVOICE,
    "sub_audit_pending_billing_on": Reason.NO_INVOICE,
    "sub_trial_running": Reason.ZERO_FIRST_INVOICE,
    "sub_trial_cancelled": Reason.ZERO_FIRST_INVOICE,
    "sub_full_coupon": Reason.FULLY_DISCOUNTED,
    "sub_no_active_invoice": Reason.NO_ACTIVE_INVOICE,
    "sub_one_time_sub": Reason.ONE_TIME_ONLY,
    "sub_open_only": Reason.OPEN_EXCLUDED,
    "sub_bad_status": Reason.QUARANTINED,
}
CANCELLED = {
    "sub_cancelled": "2026-09-01",
    "sub_failed_then_cancelled": "2026-09-15",
    "sub_audit_active_no_subs": "2026-07-01",
    "sub_audit_inactive_in_sync": "2026-08-01",
    "sub_audit_suspended_no_subs": "2026-09-01",
}
AUDIT = {
    "audit_in_sync": set(),
    "audit_active_billing_off": {"ACTIVE_BILLING_CYCLE_DISABLED"},
    "audit_active_suspended_sub": {"ACTIVE_SUSPENDED_SUBSCRIPTIONS"},
    "audit_active_no_subs": {"ACTIVE_NO_SUBSCRIPTIONS"},
    "audit_inactive_with_subs": {"INACTIVE_WITH_SUBSCRIPTIONS"},
    "audit_lead_billing_on": {"LEAD_BILLING_CYCLE_ENABLED"},
    "audit_pending_billing_on": {"PENDING_BILLING_CYCLE_ENABLED"},
    "audit_pending_no_subs": {"PENDING_NO_SUBSCRIPTIONS"},
    "audit_suspended_active_sub": {
        "SUSPENDED_ACTIVE_SUBSCRIPTIONS",
        "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS",
    },
    "audit_suspended_no_subs": {"SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"},
    "audit_suspended_in_sync": set(),
    "audit_inactive_in_sync": set(),
}
BAD_ROWS = {
    ("invoice", "inv_bad_status_1", Reason.UNKNOWN_STATUS, "status"),
    ("invoice", "inv_bad_date_1", Reason.INVALID_RECORD, "issued_at"),
    ("invoice", "inv_bad_quantity_3", Reason.INVALID_RECORD, "lines.quantity"),
}


def read(directory: Path) -> list[SourceRecord | Quarantined]:
    connector = FilesConnector({"path": str(directory)}, ConnectorContext())
    return list(connector.read(ReadWindow()))


@pytest.fixture(scope="module")
def committed() -> list[SourceRecord | Quarantined]:
    return read(SAMPLE_DIR)


def as_of(end: date) -> datetime:
    return datetime(end.year, end.month, 15, tzinfo=UTC)


# ---------------------------------------------------------------- generator


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generator_is_deterministic(tmp_path: Path, fmt: str) -> None:
    generate(tmp_path / "a", end=COMMITTED_END, fmt=fmt)
    generate(tmp_path / "b", end=COMMITTED_END, fmt=fmt)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == (6 if fmt == "csv" else 4)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    generate(tmp_path / "c", end=COMMITTED_END, fmt=fmt, seed=8)
    assert (tmp_path / "c" / names[0]).read_bytes() != (tmp_path / "a" / names[0]).read_bytes()


def test_committed_copy_equals_a_fresh_generation(tmp_path: Path) -> None:
    assert main(["sample", "generate", str(tmp_path), "--end", COMMITTED_END.isoformat()]) == 0
    for name in GENERATED:
        fresh, kept = (tmp_path / name).read_bytes(), (SAMPLE_DIR / name).read_bytes()
        assert fresh == kept, (
            f"{name} is stale: saasync sample generate tests/fixtures/sample_data --end 2026-11-01"
        )
    total = sum((SAMPLE_DIR / name).stat().st_size for name in GENERATED)
    assert total < 2_000_000


def test_every_row_is_a_record_or_one_of_the_three_bad_rows(
    committed: list[SourceRecord | Quarantined],
) -> None:
    problems = [i for i in committed if isinstance(i, Quarantined)]
    assert {(q.kind, q.external_id, q.reason, q.field) for q in problems} == BAD_ROWS
    assert len(problems) == 3
    rows = {name: sum(1 for _ in csv.DictReader((SAMPLE_DIR / name).open())) for name in GENERATED}
    kinds = Counter(type(i).__name__ for i in committed)
    assert rows["plans.csv"] == kinds["Plan"]
    assert rows["customers.csv"] == kinds["Customer"]
    assert rows["subscriptions.csv"] == kinds["SourceSubscription"]
    assert rows["invoices.csv"] == kinds["Invoice"] + 3
    invoices = [i for i in committed if isinstance(i, Invoice)]
    raw_lines = sum(len(q.raw["lines"]) for q in problems if q.raw)
    raw_txs = sum(len(q.raw["transactions"]) for q in problems if q.raw)
    assert rows["invoice_lines.csv"] == sum(len(i.lines) for i in invoices) + raw_lines
    assert rows["transactions.csv"] == sum(len(i.transactions) for i in invoices) + raw_txs
    bad = next(q for q in problems if q.external_id == "inv_bad_quantity_3")
    assert bad.location is not None and bad.location.startswith("invoice_lines.csv row ")


def test_the_sample_is_a_realistic_small_saas(committed: list[SourceRecord | Quarantined]) -> None:
    customers = [i for i in committed if isinstance(i, Customer)]
    invoices = [i for i in committed if isinstance(i, Invoice)]
    plans = {i.external_id: i for i in committed if isinstance(i, Plan)}
    assert len(customers) >= 220
    created = [c.created_at for c in customers if c.created_at]
    assert min(created) < datetime(2025, 6, 15, tzinfo=UTC) and max(created) <= as_of(COMMITTED_END)
    assert {i.currency for i in invoices} == {"USD", "EUR", "JPY"}
    assert {(p.interval_unit, p.interval_count) for p in plans.values()} >= {
        ("month", 1), ("month", 3), ("year", 1),
    }  # fmt: skip
    eur_lines = [line for i in invoices if i.currency == "EUR" for line in i.lines if line.amount]
    assert eur_lines and all(line.tax_amount > 0 for line in eur_lines)
    assert all(i.issued_at <= as_of(COMMITTED_END) for i in invoices)
    statuses = Counter(i.status.value for i in invoices)
    assert set(statuses) == {"draft", "open", "paid", "failed", "void"}
    assert any(line.quantity > 1 for i in invoices for line in i.lines)
    for slug in SCENARIOS:
        assert any(c.external_id == f"cus_{slug}" for c in customers), slug


# ---------------------------------------------------------------- SCENARIOS.md is true


def analytics(records: list[SourceRecord], at: datetime, mode: str = "exclude") -> dict[str, Any]:
    """What analytics shows for each scenario customer at ``at``, per saasync.rules."""
    plans = {r.external_id: r for r in records if isinstance(r, Plan)}
    out: dict[str, Any] = {}
    for cid, history in histories_from(records).items():
        slug = cid.removeprefix("cus_")
        if slug not in SCENARIOS:
            continue
        changes = build_customer(history, plans, RuleSettings(open_invoices=mode))  # type: ignore[arg-type]
        markers = {c.subscription_external_id: c.cancellation_dates for c in changes.cancellations}
        views = views_for_customer(cid, changes.invoices, markers)
        mrr: dict[str, int] = {}
        for view in views:
            found = subscription_mrr(view, plans, at)
            if found:
                mrr[found[0]] = mrr.get(found[0], 0) + found[1]
        decisions = {
            d.invoice_external_id.rsplit("_", 1)[1]: " ".join(
                [d.action.value] + ([d.reason.value] if d.reason else [])
            )
            for d in changes.decisions
        }
        status = customer_status([subscription_status(v, at) for v in views]).value
        out[slug] = (status, mrr, decisions, changes, history, {v.external_id for v in views})
    return out


@pytest.mark.parametrize("end", [COMMITTED_END, date(2027, 3, 1)])
def test_scenarios_match_the_rules(tmp_path: Path, end: date) -> None:
    """Exact for the committed end month, and the same outcomes for any other end month."""
    generate(tmp_path, end=end)
    items = read(tmp_path)
    records = [i for i in items if not isinstance(i, Quarantined)]
    for mode, expected in (("exclude", SCENARIOS), ("include", {**SCENARIOS, **INCLUDE})):
        got = analytics(records, as_of(end), mode)
        mismatches = {
            slug: got[slug][:3] for slug, want in expected.items() if got[slug][:3] != want
        }
        assert mismatches == {}, mode


def test_reconcile_and_cancellations(committed: list[SourceRecord | Quarantined]) -> None:
    records = [i for i in committed if not isinstance(i, Quarantined)]
    quarantined_ids = {
        line["subscription_external_id"]
        for q in committed
        if isinstance(q, Quarantined) and q.raw
        for line in q.raw.get("lines", [])
        if line.get("subscription_external_id")
    }
    reasons: dict[str, Reason] = {}
    cancellations: dict[str, str] = {}
    for _, _, _, changes, history, present in analytics(records, as_of(COMMITTED_END)).values():
        for sid in history.subscriptions:
            reason = missing_reason(
                sid, history.invoices.values(), changes,
                present_at_destination=sid in present, quarantined_ids=quarantined_ids,
            )  # fmt: skip
            if reason is not None:
                reasons[sid] = reason
        for marker in changes.cancellations:
            if marker.cancellation_dates:
                cancellations[marker.subscription_external_id] = (
                    marker.cancellation_dates[0].date().isoformat()
                )
        if history.customer_external_id == "cus_trial_cancelled":
            assert ("subscription", "sub_trial_cancelled", Reason.NEVER_CREATED) in {
                (s.kind, s.external_id, s.reason) for s in changes.skips
            }
    assert reasons == RECONCILE
    assert cancellations == CANCELLED


def audit_codes(customer: Customer, subs: list[SourceSubscription]) -> set[str]:
    """docs/rules.md, out-of-sync accounts, literally: the oracle the sample is built against."""
    live = [s for s in subs if s.status is not SubscriptionStatus.CANCELLED]
    suspended = any(s.source_status == "suspended" for s in live)
    active = any(s.status is SubscriptionStatus.ACTIVE for s in live)
    billing, status = customer.billing_cycle_enabled, customer.account_status
    rules = {
        "ACTIVE_BILLING_CYCLE_DISABLED": status is AccountStatus.ACTIVE and live and not billing,
        "ACTIVE_SUSPENDED_SUBSCRIPTIONS": status is AccountStatus.ACTIVE and suspended,
        "ACTIVE_NO_SUBSCRIPTIONS": status is AccountStatus.ACTIVE and not live,
        "INACTIVE_WITH_SUBSCRIPTIONS": status is AccountStatus.INACTIVE and live,
        "LEAD_BILLING_CYCLE_ENABLED": status is AccountStatus.LEAD and billing,
        "PENDING_BILLING_CYCLE_ENABLED": status is AccountStatus.PENDING and billing,
        "PENDING_NO_SUBSCRIPTIONS": status is AccountStatus.PENDING and not live,
        "SUSPENDED_ACTIVE_SUBSCRIPTIONS": status is AccountStatus.SUSPENDED and active,
        "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS": status is AccountStatus.SUSPENDED and not suspended,
    }
    return {code for code, applies in rules.items() if applies}


def test_every_audit_code_is_triggered(committed: list[SourceRecord | Quarantined]) -> None:
    subs: dict[str, list[SourceSubscription]] = {}
    for item in committed:
        if isinstance(item, SourceSubscription):
            subs.setdefault(item.customer_external_id, []).append(item)
    audited = {
        c.external_id.removeprefix("cus_"): audit_codes(c, subs.get(c.external_id, []))
        for c in committed
        if isinstance(c, Customer) and c.account_status is not None
    }
    assert audited == AUDIT
    assert len(set().union(*audited.values())) == 9


def test_scenarios_md_names_every_scenario_customer() -> None:
    text = SCENARIOS_MD.read_text(encoding="utf-8")
    for slug in SCENARIOS:
        assert f"`cus_{slug}`" in text, slug
    for sid in RECONCILE:
        assert f"`{sid}`" in text, sid
    # dates are relative to the run month; `saasync sample describe` prints them
    assert "saasync sample describe" in text.split("\n\n")[1]
    assert "M0 = 2026-11-01, M-2 = 2026-09-01" in text


def test_dates_follow_the_end_month(tmp_path: Path) -> None:
    generate(tmp_path, end=date(2027, 3, 20))
    items = read(tmp_path)
    issued = [i.issued_at for i in items if isinstance(i, Invoice)]
    assert max(issued) < as_of(date(2027, 3, 1)) <= max(issued) + timedelta(days=14)
    bad = {q.external_id: q for q in items if isinstance(q, Quarantined)}
    assert bad["inv_bad_date_1"].raw is not None
    assert bad["inv_bad_date_1"].raw["issued_at"] == "2027-01-32"


# ---------------------------------------------------------------- the invoices-only sample


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_invoices_only_sample_has_no_subscription_rows_and_no_bad_row(tmp_path: Path,
                                                                     fmt: str) -> None:
    """An accounting system's export: every subscription is only named by invoice lines,
    each by its own customer's lines, so the files connector infers it (nothing quarantined).
    What analytics shows is checked end to end in tests/e2e/test_invoices_only_sample.py."""
    generate(tmp_path, end=COMMITTED_END, fmt=fmt, invoices_only=True)
    assert not list(tmp_path.glob("subscriptions.*"))
    items = read(tmp_path)
    assert not [i for i in items if isinstance(i, Quarantined)]
    kinds = Counter(type(i).__name__ for i in items)
    assert (kinds["Customer"], kinds["Invoice"], kinds["SourceSubscription"]) == (3, 14, 0)
    named = {(i.customer_external_id, line.subscription_external_id)
             for i in items if isinstance(i, Invoice) for line in i.lines}
    assert named == {(f"cus_{s}", f"sub_{s}")
                     for s in ("stopped_paying", "paying_monthly", "churned_and_back")}
    issued = [i.issued_at for i in items if isinstance(i, Invoice)]
    assert max(issued) == datetime(2026, 11, 1, tzinfo=UTC) < as_of(COMMITTED_END)


def test_invoices_only_sample_from_the_command_line(tmp_path: Path) -> None:
    assert main(["sample", "generate", str(tmp_path / "a"), "--end", "2026-11-01",
                 "--invoices-only"]) == 0
    generate(tmp_path / "b", end=COMMITTED_END, invoices_only=True)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 5
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
