"""The scenario customers of the sample, with readable ids: each exercises one rule of
docs/rules.md, and SCENARIOS.md (beside this module) says what analytics must show for it.
Exactly three rows are deliberately bad, so a newcomer sees the review queue."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .export import Export

SCENARIO_NAMES = (
    "Ada Moreau", "Bilal Okafor", "Clara Jensen", "Diego Rossi", "Eva Lindqvist",
    "Felix Wagner", "Gita Rao", "Hugo Martin", "Isla Byrne", "Jun Takeda", "Kara Novak",
    "Liam Walsh", "Mina Park", "Noah Fischer", "Olga Petrova", "Pablo Ruiz", "Rin Sato",
    "Sara Cohen", "Theo Laurent", "Una Keane", "Vera Horvat", "Will Turner", "Xin Liu",
    "Yusuf Demir", "Zara Ahmed", "Arne Berg", "Bea Costa", "Cyril Dupont", "Dana Levi",
    "Emil Nowak", "Fay Gordon", "Gus Meyer", "Hana Ito", "Ivan Kuznetsov", "Jade Wong",
    "Kofi Mensah", "Lara Silva", "Milo Brandt", "Nora Hayes", "Otto Klein", "Pia Lund",
    "Raj Mehta", "Sofia Greco", "Tariq Aziz", "Ugo Bianchi", "Vik Sharma",
    "Alma Ruiz", "Boris Lenz", "Chloe Petit",
)  # fmt: skip

BAD_STATUS = "awaiting_approval"  # deliberately bad row 1: not in the status mapping table


def _invalid_date(x: Export, back: int) -> str:
    """Deliberately bad row 2: a day that does not exist (e.g. 2026-09-31)."""
    first = x.month(back)
    return f"{first.year}-{first.month:02d}-{monthrange(first.year, first.month)[1] + 1:02d}"


class Scenarios:
    """Adds the scenario customers to an export; each method is one family of rules."""

    def __init__(self, x: Export) -> None:
        self.x = x
        self.names = iter(SCENARIO_NAMES)

    def customer(self, slug: str, created: datetime, **kw: Any) -> str:
        cid = f"cus_{slug}"
        self.x.customer(cid, next(self.names), created, **kw)
        return cid

    def plain(
        self, slug: str, plan: str, months: Sequence[int], *, status: str = "active",
        currency: str = "USD", country: str = "US", quantity: int = 1, percent_off: int = 0,
        account: str | None = None, billing: bool | None = None, **sub: Any,
    ) -> tuple[str, str]:  # fmt: skip
        """A customer with one subscription, paid at the start of each of ``months``."""
        x, first = self.x, self.x.month(max(months))
        cid = self.customer(
            slug, first - timedelta(days=2), country=country, account_status=account,
            billing=billing,
        )  # fmt: skip
        sid = f"sub_{slug}"
        end = x.paid_months(
            slug, cid, sid, plan, sorted(months, reverse=True), currency=currency,
            country=country, quantity=quantity, percent_off=percent_off,
        )  # fmt: skip
        sub.setdefault("period_end", end)
        x.subscription(sid, cid, plan, status, first, **sub)
        return cid, sid

    def add_all(self) -> None:
        self.baseline_and_trials()
        self.discounts_and_one_time()
        self.terminal_invoices()
        self.open_invoices()
        self.lifecycle()
        self.billing_shapes()
        self.audit_accounts()
        self.bad_rows()
        self.cancellation_history()

    def baseline_and_trials(self) -> None:
        x, m = self.x, self.x.month
        self.plain("steady_monthly", "growth-monthly", [5, 4, 3, 2, 1, 0])
        cid = self.customer("trial_then_paid", m(2, -1))
        sid = "sub_trial_then_paid"
        trial = x.sub_line(sid, "growth-monthly", m(2), "USD", "US", unit=0,
                           description="Growth (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_then_paid", cid, m(2), "USD", [trial])
        end = x.paid_months("trial_then_paid", cid, sid, "growth-monthly", [1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=end)
        cid = self.customer("trial_running", m(0, 2))
        sid = "sub_trial_running"
        trial = x.sub_line(sid, "growth-monthly", m(0, 2), "USD", "US", unit=0,
                           description="Growth (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_running", cid, m(0, 2), "USD", [trial])
        x.subscription(sid, cid, "growth-monthly", "in_trial", m(0, 2),
                       period_end=trial["service_period_end"])  # fmt: skip
        cid = self.customer("trial_cancelled", m(1, -1))
        sid = "sub_trial_cancelled"
        trial = x.sub_line(sid, "starter-monthly", m(1), "USD", "US", unit=0,
                           description="Starter (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_cancelled", cid, m(1), "USD", [trial])
        x.subscription(sid, cid, "starter-monthly", "canceled", m(1), cancelled=m(0),
                       period_end=m(0))  # fmt: skip
        cid = self.customer("trial_no_invoice", m(0, 5))
        x.subscription("sub_trial_no_invoice", cid, "scale-monthly", "trialing", m(0, 5),
                       period_end=m(0, 19))  # fmt: skip

    def discounts_and_one_time(self) -> None:
        x, m = self.x, self.x.month
        cid = self.customer("full_coupon", m(2, -3))
        sid = "sub_full_coupon"
        for back in (2, 1, 0):
            line = x.sub_line(sid, "growth-monthly", m(back), "USD", "US")
            x.invoice(
                "full_coupon", cid, m(back), "USD", [line], discount=10000, code="FOUNDERS100"
            )
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=m(-1))
        self.plain("partial_coupon", "growth-monthly", [2, 1, 0], percent_off=25)
        cid = self.customer("invoice_coupon", m(1, -2))
        sid = "sub_invoice_coupon"
        line = x.sub_line(sid, "scale-monthly", m(1), "USD", "US")
        x.invoice("invoice_coupon", cid, m(1), "USD", [line], discount=5000, code="LOYAL50")
        lines = [x.sub_line(sid, "scale-monthly", m(0), "USD", "US"),
                 x.one_time(10000, "USD", "US", "Extra workspace (one-time)")]  # fmt: skip
        x.invoice("invoice_coupon", cid, m(0), "USD", lines, discount=5000, code="LOYAL50")
        x.subscription(sid, cid, "scale-monthly", "active", m(1), period_end=m(-1))
        cid = self.customer("setup_fee", m(3, -1))
        sid = "sub_setup_fee"
        lines = [x.sub_line(sid, "growth-monthly", m(3), "USD", "US"),
                 x.one_time(50000, "USD", "US", "Onboarding & setup fee")]  # fmt: skip
        x.invoice("setup_fee", cid, m(3), "USD", lines)
        end = x.paid_months("setup_fee", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(3), period_end=end)
        cid = self.customer("one_time_only", m(5, 5))
        for when, net, what in ((m(5, 9), 120000, "Consulting workshop"),
                                (m(2, 14), 80000, "Data migration service")):  # fmt: skip
            x.invoice("one_time_only", cid, when, "USD", [x.one_time(net, "USD", "US", what)],
                      paid=when + timedelta(days=6), due=when + timedelta(days=14))  # fmt: skip
        cid = self.customer("one_time_sub", m(4, -1))
        sid = "sub_one_time_sub"
        line = x.one_time(29000, "USD", "US", "Starter annual licence (manual invoice)", sid)
        x.invoice("one_time_sub", cid, m(4), "USD", [line], paid=m(4, 3), due=m(4, 14))
        x.subscription(sid, cid, "starter-yearly", "active", m(4), period_end=m(-8))

    def terminal_invoices(self) -> None:
        x, m = self.x, self.x.month
        cid = self.customer("no_active_invoice", m(2, -1))
        sid = "sub_no_active_invoice"
        line = x.sub_line(sid, "growth-monthly", m(2), "USD", "US")
        x.invoice("no_active_invoice", cid, m(2), "USD", [line], status="voided")
        x.invoice("no_active_invoice", cid, m(2, 1), "USD", [line], status="uncollectible",
                  failed=[m(2, 1), m(2, 4), m(2, 8)])  # fmt: skip
        draft = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("no_active_invoice", cid, m(0), "USD", [draft], status="draft")
        x.subscription(sid, cid, "growth-monthly", "unpaid", m(2), period_end=m(1))
        cid, sid = self.plain("voided_invoice", "growth-monthly", [3, 2, 1, 0])
        line = x.sub_line(sid, "growth-monthly", m(1), "USD", "US")
        x.invoice("voided_invoice", cid, m(1) + timedelta(hours=3), "USD", [line], status="void")
        cid, sid = self.plain("failed_then_cancelled", "starter-monthly", [5, 4, 3],
                              status="canceled", cancelled=m(2, 14))  # fmt: skip
        line = x.sub_line(sid, "starter-monthly", m(2), "USD", "US")
        x.invoice("failed_then_cancelled", cid, m(2), "USD", [line], status="uncollectible",
                  failed=[m(2), m(2, 3), m(2, 7)])  # fmt: skip

    def open_invoices(self) -> None:
        x, m = self.x, self.x.month
        week, month = timedelta(days=7), timedelta(days=30)
        cid = self.customer("open_past_due", m(3, -2))
        sid = "sub_open_past_due"
        x.paid_months("open_past_due", cid, sid, "growth-monthly", [3, 2, 1],
                      pay_after=timedelta(days=5), due_after=week)  # fmt: skip
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("open_past_due", cid, m(0), "USD", [line], status="open", due=m(0) + week)
        x.subscription(sid, cid, "growth-monthly", "past_due", m(3), period_end=m(-1))
        cid, sid = self.plain("open_failed_attempt", "growth-monthly", [2, 1],
                              status="past_due", period_end=m(-1))  # fmt: skip
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("open_failed_attempt", cid, m(0), "USD", [line], status="payment_due",
                  failed=[m(0) + timedelta(minutes=7), m(0, 3)])  # fmt: skip
        cid = self.customer("open_not_due", m(3, -2))
        sid = "sub_open_not_due"
        x.paid_months("open_not_due", cid, sid, "starter-monthly", [3, 2, 1],
                      pay_after=timedelta(days=20), due_after=month)  # fmt: skip
        line = x.sub_line(sid, "starter-monthly", m(0), "USD", "US")
        x.invoice("open_not_due", cid, m(0), "USD", [line], status="posted", due=m(0) + month)
        x.subscription(sid, cid, "starter-monthly", "active", m(3), period_end=m(-1))
        cid = self.customer("open_only", m(0, 3))
        sid = "sub_open_only"
        line = x.sub_line(sid, "scale-monthly", m(0, 4), "USD", "US")
        x.invoice("open_only", cid, m(0, 4), "USD", [line], status="open", due=m(0, 4) + month)
        x.subscription(sid, cid, "scale-monthly", "active", m(0, 4),
                       period_end=line["service_period_end"])  # fmt: skip

    def lifecycle(self) -> None:
        x, m = self.x, self.x.month
        self.plain("on_hold", "growth-monthly", [2, 1, 0], status="on_hold", paused=m(0, 9))
        self.plain("paused_past_due", "starter-monthly", [4, 3, 2], status="paused",
                   paused=m(2, 14))  # fmt: skip
        self.plain("cancelled", "starter-monthly", [6, 5, 4, 3], status="cancelled",
                   cancelled=m(2))  # fmt: skip
        cid, sid = self.plain("reactivated", "growth-monthly", [7, 6, 5], cancelled=m(4),
                              updated=m(2))  # fmt: skip
        x.paid_months("reactivated", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscriptions[-1]["current_period_end"] = m(-1)
        cid, sid = self.plain("seats", "team-monthly", [3, 2], quantity=5, period_end=m(-1))
        x.paid_months("seats", cid, sid, "team-monthly", [1, 0], quantity=8)
        cid, sid = self.plain("upgrade", "starter-monthly", [3, 2], period_end=m(-1))
        x.paid_months("upgrade", cid, sid, "growth-monthly", [1, 0])
        x.subscriptions[-1]["plan_external_id"] = "growth-monthly"
        cid, sid = self.plain("downgrade_to_free", "growth-monthly", [3, 2], period_end=m(-1))
        x.paid_months("downgrade_to_free", cid, sid, "free-monthly", [1, 0])
        x.subscriptions[-1]["plan_external_id"] = "free-monthly"
        cid, sid = self.plain("two_subs", "growth-monthly", [2, 1, 0])
        addon = "sub_two_subs_addon"
        x.paid_months("two_subs", cid, addon, "starter-monthly", [3, 2])
        line = x.sub_line(addon, "starter-monthly", m(1), "USD", "US")
        x.invoice("two_subs", cid, m(1), "USD", [line], status="payment_due",
                  failed=[m(1) + timedelta(minutes=7), m(1, 3)])  # fmt: skip
        x.subscription(addon, cid, "starter-monthly", "past_due", m(3), period_end=m(0))

    def cancellation_history(self) -> None:
        """Cancellations as a history (reactivation keeps the churn), a withdrawn scheduled
        cancellation and an immediate cancellation. (Automatic churn needs an export without
        subscription rows: see ``build_invoices_only``.)"""
        x, m = self.x, self.x.month
        cid, sid = self.plain("churned_and_back", "growth-monthly", [6, 5], updated=m(2))
        x.paid_months("churned_and_back", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscriptions[-1].update(current_period_end=m(-1), past_cancellation_dates=[m(4)])
        self.plain("withdrawn_cancel", "growth-monthly", [2, 1, 0], cancelled=m(-1),
                   updated=m(0, 10))  # fmt: skip
        cid = self.customer("immediate_cancel", m(1, 9))
        sid = "sub_immediate_cancel"
        start = m(1, 9) + timedelta(hours=10)
        line = x.sub_line(sid, "starter-monthly", start, "USD", "US")
        x.invoice("immediate_cancel", cid, start, "USD", [line])
        x.subscription(sid, cid, "starter-monthly", "canceled", start, cancelled=start,
                       period_end=start)  # fmt: skip

    def billing_shapes(self) -> None:
        self.plain("yearly", "growth-yearly", [8])
        self.plain("quarterly", "growth-quarterly", [3])
        x, m = self.x, self.x.month
        x.paid_months("quarterly", "cus_quarterly", "sub_quarterly", "growth-quarterly", [0])
        x.subscriptions[-1]["current_period_end"] = m(-3)
        self.plain("eur_vat", "growth-monthly", [2, 1, 0], currency="EUR", country="DE")
        self.plain("jpy", "growth-monthly", [2, 1, 0], currency="JPY", country="JP")

    def audit_accounts(self) -> None:
        """Accounts with an account status and billing-cycle flag (docs/rules.md, out-of-sync accounts)."""
        m, plan = self.x.month, "starter-monthly"
        self.plain("audit_in_sync", plan, [2, 1, 0], account="ACTIVE", billing=True)
        self.plain("audit_active_billing_off", plan, [3, 2], account="ACTIVE", billing=False)
        self.plain("audit_active_suspended_sub", plan, [3, 2, 1], status="suspended",
                   paused=m(1, 9), account="ACTIVE", billing=True)  # fmt: skip
        self.plain("audit_active_no_subs", plan, [6, 5], status="cancelled", cancelled=m(4),
                   account="ACTIVE", billing=True)  # fmt: skip
        self.plain("audit_inactive_with_subs", plan, [3, 2, 1, 0], account="INACTIVE",
                   billing=True)  # fmt: skip
        self.customer("audit_lead_billing_on", m(1, 12), account_status="LEAD", billing=True)
        cid = self.customer("audit_pending_billing_on", m(0, 6), account_status="PENDING",
                            billing=True)  # fmt: skip
        self.x.subscription("sub_audit_pending_billing_on", cid, plan, "future", m(-1),
                            updated=m(0, 6))  # fmt: skip
        self.customer("audit_pending_no_subs", m(0, 8), account_status="PENDING", billing=False)
        self.plain("audit_suspended_active_sub", plan, [2, 1, 0], account="SUSPENDED",
                   billing=True)  # fmt: skip
        self.plain("audit_suspended_no_subs", plan, [5, 4, 3], status="expired",
                   cancelled=m(2), account="SUSPENDED", billing=False)  # fmt: skip
        self.plain("audit_suspended_in_sync", plan, [3, 2, 1], status="suspended",
                   paused=m(1, 4), account="SUSPENDED", billing=False)  # fmt: skip
        self.plain("audit_inactive_in_sync", plan, [6, 5, 4], status="cancelled",
                   cancelled=m(3), account="INACTIVE", billing=False)  # fmt: skip

    def bad_rows(self) -> None:
        """The three deliberately bad rows: they land in the review queue, nothing else breaks."""
        x, m = self.x, self.x.month
        cid = self.customer("bad_status", m(0, -2))
        sid = "sub_bad_status"
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("bad_status", cid, m(0), "USD", [line], status=BAD_STATUS)
        x.subscription(sid, cid, "growth-monthly", "active", m(0), period_end=m(-1))
        cid = self.customer("bad_date", m(2, -2))
        sid = "sub_bad_date"
        line = x.sub_line(sid, "growth-monthly", m(2), "USD", "US")
        x.invoice(
            "bad_date", cid, _invalid_date(x, 2), "USD", [line], paid=m(2) + timedelta(minutes=7)
        )
        end = x.paid_months("bad_date", cid, sid, "growth-monthly", [1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=end)
        cid, sid = self.plain("bad_quantity", "team-monthly", [2, 1], quantity=4,
                              period_end=m(-1))  # fmt: skip
        line = x.sub_line(sid, "team-monthly", m(0), "USD", "US", quantity=4)
        line["quantity"] = -4  # deliberately bad row 3: a negative quantity
        x.invoice("bad_quantity", cid, m(0), "USD", [line])
