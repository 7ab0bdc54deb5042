"""docs/rules.md §2–§3: the subscription builder, one test per rule and reason code, seed cases by name."""

from saasync.reasons import Reason
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.filter import Action
from tests.factories import (
    PLANS,
    customer,
    dt,
    failed_attempt,
    invoice,
    one_time,
    paid,
    sub_line,
    subscription,
)

DEFAULT_RULES = RuleSettings()


def build(*records, settings=DEFAULT_RULES):  # type: ignore[no-untyped-def]
    return build_customer(CustomerHistory("cus_1").merge([customer(), *records]), PLANS, settings)


def reasons(changes):  # type: ignore[no-untyped-def]
    return {d.invoice_external_id: d.reason for d in changes.decisions}


def test_seed_first_invoice_zero_then_fifty_ZERO_FIRST_INVOICE() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(0, "2026-01-01")]),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01")]),
    )
    assert reasons(changes) == {"in_1": Reason.ZERO_FIRST_INVOICE, "in_2": None}
    assert [i.external_id for i in changes.invoices] == ["in_2"]
    assert [(s.subscription_external_id, s.invoice_external_id) for s in changes.starts] == [
        ("sub_1", "in_2")
    ]


def test_seed_hundred_dollar_invoice_with_hundred_dollar_discount_FULLY_DISCOUNTED() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(10000)], discount_amount=10000))
    assert reasons(changes) == {"in_1": Reason.FULLY_DISCOUNTED}
    assert changes.invoices == () and changes.starts == ()
    assert changes.customer is not None  # still sent, as a lead


def test_line_level_full_coupon_is_FULLY_DISCOUNTED() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(0, discount_amount=10000)]))
    assert reasons(changes) == {"in_1": Reason.FULLY_DISCOUNTED}


def test_free_trial_line_is_ZERO_AMOUNT_while_no_subscription_exists() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(0)]))
    assert reasons(changes) == {"in_1": Reason.ZERO_AMOUNT}
    assert changes.starts == ()


def test_later_zero_invoices_are_sent_once_the_subscription_exists() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000, "2026-01-01")]),
        invoice("in_2", "2026-02-01", [sub_line(0, "2026-02-01")]),
    )
    assert [i.external_id for i in changes.invoices] == ["in_1", "in_2"]
    assert changes.invoices[1].lines[0].amount == 0


def test_seed_customer_with_only_one_time_invoices_is_a_lead_ONE_TIME_ONLY() -> None:
    changes = build(invoice("in_1", "2026-01-01", [one_time(20000)]))
    assert reasons(changes) == {"in_1": Reason.ONE_TIME_ONLY}
    assert changes.invoices == () and changes.starts == () and changes.customer is not None


def test_seed_only_draft_failed_cancelled_invoices_create_nothing() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000)], status="draft"),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01")], status="failed"),
        invoice("in_3", "2026-03-01", [sub_line(5000, "2026-03-01")], status="void"),
    )
    assert reasons(changes) == {"in_1": Reason.DRAFT, "in_2": Reason.FAILED, "in_3": Reason.VOIDED}
    assert changes.invoices == () and changes.starts == ()


def test_seed_open_invoice_under_both_settings_OPEN_EXCLUDED() -> None:
    inv = invoice(
        "in_1", "2026-01-01", [sub_line(5000)], status="open",
        transactions=[failed_attempt("2026-01-02")],
    )
    held = build(inv)
    assert held.decisions[0].action is Action.HOLD
    assert reasons(held) == {"in_1": Reason.OPEN_EXCLUDED}
    assert held.starts == ()
    sent = build(inv, settings=RuleSettings(open_invoices="include"))
    assert [i.external_id for i in sent.invoices] == ["in_1"]
    # sent with no payment transaction; the failed attempt travels (Past-Due signal)
    assert [(t.type, t.result) for t in sent.invoices[0].transactions] == [("payment", "failed")]


def test_paid_invoice_carries_its_payment_transactions() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(5000)], transactions=[paid("2026-01-02", ext="ch_1")]))
    assert [t.external_id for t in changes.invoices[0].transactions] == ["ch_1"]


def test_one_time_lines_of_a_mixed_invoice_travel_as_one_time_lines() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(5000), one_time(2500, description="Setup fee")]))
    kinds = [(line.kind, line.amount) for line in changes.invoices[0].lines]
    assert kinds == [("subscription", 5000), ("one_time", 2500)]
    assert [s.subscription_external_id for s in changes.starts] == ["sub_1"]


def test_one_time_line_never_creates_a_subscription_even_with_a_zero_subscription_line() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(0), one_time(5000, description="Setup fee")]))
    assert changes.starts == () and reasons(changes) == {"in_1": Reason.ZERO_AMOUNT}


def test_invoice_discount_is_shared_before_deciding_the_start() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(7500), one_time(2500)], discount_amount=1000))
    assert [line.amount for line in changes.invoices[0].lines] == [6750, 2250]
    assert [line.discount_amount for line in changes.invoices[0].lines] == [750, 250]


def test_two_subscriptions_on_one_invoice_start_independently() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000), sub_line(0, sub="sub_2")]),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01"), sub_line(900, "2026-02-01", sub="sub_2")]),
    )
    first = changes.decision_for("in_1")
    assert first is not None and first.action is Action.SEND
    assert first.dropped_lines == (("sub_2", Reason.ZERO_FIRST_INVOICE),)
    assert [line.subscription_external_id for line in changes.invoices[0].lines] == ["sub_1"]
    assert {s.subscription_external_id: s.invoice_external_id for s in changes.starts} == {
        "sub_1": "in_1", "sub_2": "in_2"
    }


def test_cancelled_marker_is_set_from_the_source_cancellation_date() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000)]),
        subscription(status="cancelled", cancelled_at="2026-01-20"),
    )
    assert [(c.subscription_external_id, c.cancellation_dates) for c in changes.cancellations] == [
        ("sub_1", (dt("2026-01-20"),))
    ]


def test_reactivation_with_no_cancellation_that_took_effect_leaves_no_marker() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000)]),
        subscription(status="active"),
    )
    assert [c.cancellation_dates for c in changes.cancellations] == [()]


def test_cancelling_a_subscription_that_was_never_created_is_NEVER_CREATED() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(0)]),
        subscription(status="cancelled", cancelled_at="2026-01-20"),
    )
    assert changes.cancellations == ()
    assert [(s.kind, s.external_id, s.reason) for s in changes.skips if s.kind == "subscription"] == [
        ("subscription", "sub_1", Reason.NEVER_CREATED)
    ]


def test_pause_is_not_a_cancellation() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000)]),
        subscription(status="paused", paused_at="2026-01-15"),
    )
    assert [c.cancellation_dates for c in changes.cancellations] == [()]


def test_void_invoice_is_listed_for_voiding_at_the_destination_VOIDED() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000)]),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01")], status="void"),
    )
    assert changes.voided_invoice_ids == ("in_2",)


def test_unknown_plan_quarantines_the_invoice_UNKNOWN_PLAN() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(5000, plan_id="pl_nope")]))
    assert [(q.external_id, q.reason) for q in changes.quarantined] == [("in_1", Reason.UNKNOWN_PLAN)]
    assert changes.invoices == ()


def test_records_of_a_customer_never_read_are_quarantined_UNKNOWN_CUSTOMER() -> None:
    history = CustomerHistory("cus_x").merge([invoice("in_1", "2026-01-01", [sub_line(5000)], cid="cus_x")])
    changes = build_customer(history, PLANS)
    assert [(q.external_id, q.reason) for q in changes.quarantined] == [("in_1", Reason.UNKNOWN_CUSTOMER)]


def test_only_plans_of_sent_lines_are_sent() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(5000, plan_id="pl_yearly", months=12)]))
    assert [p.external_id for p in changes.plans] == ["pl_yearly"]
