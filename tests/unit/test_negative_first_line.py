"""A negative subscription line before its subscription exists is not ZERO_AMOUNT: a credit
with nothing to credit is quarantined as invalid, naming the field; later credits are sent."""

from saasync.reasons import Reason
from saasync.rules.filter import Action
from tests.factories import invoice, sub_line
from tests.unit.test_builder import build, reasons


def test_negative_first_line_amount_is_invalid_not_zero_amount() -> None:
    changes = build(invoice("in_1", "2026-01-01", [sub_line(-1000)]))
    assert reasons(changes) == {"in_1": Reason.INVALID_RECORD}
    (decision,) = changes.decisions
    assert decision.action is Action.SKIP
    (q,) = changes.quarantined
    assert (q.kind, q.external_id, q.reason) == ("invoice", "in_1", Reason.INVALID_RECORD)
    assert "lines.amount" in q.detail and "negative" in q.detail and "sub_1" in q.detail
    assert changes.starts == () and changes.invoices == ()


def test_negative_line_after_the_subscription_exists_is_a_credit_and_sent() -> None:
    changes = build(
        invoice("in_1", "2026-01-01", [sub_line(5000, "2026-01-01")]),
        invoice("in_2", "2026-02-01", [sub_line(-1000, "2026-02-01")]),
    )
    assert reasons(changes) == {"in_1": None, "in_2": None}
    assert [i.external_id for i in changes.invoices] == ["in_1", "in_2"]
