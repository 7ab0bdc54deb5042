"""docs/rules.md §1: one decision per invoice, with its stable reason code."""

from saasync.reasons import Reason
from saasync.rules.filter import Action, decide_invoice
from tests.factories import invoice, one_time, sub_line


def test_DRAFT_is_skipped() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)], status="draft"))
    assert (d.action, d.reason) == (Action.SKIP, Reason.DRAFT)


def test_VOIDED_is_skipped() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)], status="void"))
    assert (d.action, d.reason) == (Action.SKIP, Reason.VOIDED)


def test_FAILED_is_skipped() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)], status="failed"))
    assert (d.action, d.reason) == (Action.SKIP, Reason.FAILED)


def test_ONE_TIME_ONLY_is_skipped_even_when_paid() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [one_time(9900)]))
    assert (d.action, d.reason) == (Action.SKIP, Reason.ONE_TIME_ONLY)


def test_OPEN_EXCLUDED_holds_an_open_invoice_by_default() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)], status="open"))
    assert (d.action, d.reason) == (Action.HOLD, Reason.OPEN_EXCLUDED)


def test_open_invoice_is_sent_when_open_invoices_include() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)], status="open"), "include")
    assert (d.action, d.reason) == (Action.SEND, None)


def test_paid_invoice_is_sent() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000)]))
    assert d.action is Action.SEND


def test_mixed_invoice_with_a_subscription_line_is_sent() -> None:
    d = decide_invoice(invoice("in_1", "2026-01-01", [sub_line(5000), one_time(2500)]))
    assert d.action is Action.SEND
