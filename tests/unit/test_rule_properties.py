"""Properties the engine relies on: one decision per invoice, order independence, incremental = full."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from saasync.models import Invoice
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from tests.factories import PLANS, customer, invoice, one_time, sub_line, subscription

STATUSES = ["draft", "open", "paid", "failed", "void"]


@st.composite
def invoices(draw: st.DrawFn) -> list[Invoice]:
    count = draw(st.integers(min_value=0, max_value=8))
    out = []
    for n in range(count):
        month = draw(st.integers(min_value=1, max_value=12))
        start = f"2026-{month:02d}-01"
        lines = []
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            if draw(st.booleans()):
                lines.append(
                    sub_line(
                        draw(st.sampled_from([0, 0, 1000, 5000])),
                        start,
                        sub=draw(st.sampled_from(["sub_1", "sub_2"])),
                        discount_amount=draw(st.sampled_from([0, 1000])),
                    )
                )
            else:
                lines.append(one_time(draw(st.sampled_from([0, 2500]))))
        out.append(
            invoice(
                f"in_{n}",
                start,
                lines,
                status=draw(st.sampled_from(STATUSES)),
                discount_amount=draw(st.sampled_from([0, 0, 500, 100000])),
            )
        )
    return out


SUBS = [subscription("sub_1", "cancelled", cancelled_at="2026-06-01"), subscription("sub_2", "paused")]


@settings(max_examples=150, deadline=None)
@given(invs=invoices(), open_setting=st.sampled_from(["exclude", "include"]))
def test_every_invoice_gets_exactly_one_decision(invs: list[Invoice], open_setting: str) -> None:
    changes = build_customer(
        CustomerHistory("cus_1").merge([customer(), *invs, *SUBS]), PLANS, RuleSettings(open_setting)  # type: ignore[arg-type]
    )
    assert sorted(d.invoice_external_id for d in changes.decisions) == sorted(i.external_id for i in invs)
    sent = {i.external_id for i in changes.invoices}
    for d in changes.decisions:
        assert (d.invoice_external_id in sent) == (d.reason is None)


@settings(max_examples=150, deadline=None)
@given(invs=invoices(), data=st.data())
def test_result_does_not_depend_on_input_order(invs: list[Invoice], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations([customer(), *invs, *SUBS]))
    a = build_customer(CustomerHistory("cus_1").merge([customer(), *invs, *SUBS]), PLANS)
    b = build_customer(CustomerHistory("cus_1").merge(shuffled), PLANS)
    assert a == b


@settings(max_examples=150, deadline=None)
@given(invs=invoices(), data=st.data())
def test_building_in_two_parts_equals_building_at_once(invs: list[Invoice], data: st.DataObject) -> None:
    records = [customer(), *invs, *SUBS]
    cut = data.draw(st.integers(min_value=0, max_value=len(records)))
    at_once = build_customer(CustomerHistory("cus_1").merge(records), PLANS)
    first = CustomerHistory("cus_1").merge(records[:cut])
    build_customer(first, PLANS)  # an earlier run saw only the first part
    in_two = build_customer(first.merge(records[cut:]), PLANS)
    assert in_two == at_once
