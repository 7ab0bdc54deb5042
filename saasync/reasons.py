"""Stable reason codes: why a record was skipped, held, quarantined, or is missing downstream.

These strings appear in logs, run reports, the dry-run diff, the review queue and
``reconcile``. They are part of the public interface: never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Filter (docs/rules.md §1)
    DRAFT = "DRAFT"
    VOIDED = "VOIDED"
    FAILED = "FAILED"
    ONE_TIME_ONLY = "ONE_TIME_ONLY"
    OPEN_EXCLUDED = "OPEN_EXCLUDED"
    # Subscription builder (docs/rules.md §2–§3)
    FULLY_DISCOUNTED = "FULLY_DISCOUNTED"
    ZERO_AMOUNT = "ZERO_AMOUNT"
    ZERO_FIRST_INVOICE = "ZERO_FIRST_INVOICE"
    NEVER_CREATED = "NEVER_CREATED"
    # Validation (docs/rules.md, normalized records)
    UNKNOWN_STATUS = "UNKNOWN_STATUS"
    INVALID_RECORD = "INVALID_RECORD"
    UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"
    UNKNOWN_PLAN = "UNKNOWN_PLAN"
    UNKNOWN_SUBSCRIPTION = "UNKNOWN_SUBSCRIPTION"
    FOREIGN_SUBSCRIPTION = "FOREIGN_SUBSCRIPTION"
    DESTINATION_REJECTED = "DESTINATION_REJECTED"
    DESTINATION_CONFLICT = "DESTINATION_CONFLICT"
    UNMAPPED_ITEM = "UNMAPPED_ITEM"
    # Reconcile-only (docs/rules.md §5)
    NO_INVOICE = "NO_INVOICE"
    NO_ACTIVE_INVOICE = "NO_ACTIVE_INVOICE"
    QUARANTINED = "QUARANTINED"
    NOT_YET_SYNCED = "NOT_YET_SYNCED"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.DRAFT: "draft invoice (not finalized): never sent",
    Reason.VOIDED: "void / cancelled / deleted invoice: not sent, voided at the destination if sent before",
    Reason.FAILED: "failed or uncollectible invoice with no successful payment: not sent",
    Reason.ONE_TIME_ONLY: "only one-time lines: analytics cannot create a subscription from it",
    Reason.OPEN_EXCLUDED: "open (unpaid) invoice held back until paid (open_invoices = \"exclude\")",
    Reason.FULLY_DISCOUNTED: "discounts bring the subscription line to $0 before the subscription exists",
    Reason.ZERO_AMOUNT: "$0 subscription line (free trial or free plan) before the subscription exists",
    Reason.ZERO_FIRST_INVOICE: "dated before the subscription's first non-zero invoice: not sent",
    Reason.NEVER_CREATED: "cancellation of a subscription that never existed at the destination: no-op",
    Reason.UNKNOWN_STATUS: "the source status is not in the mapping table: quarantined, never guessed",
    Reason.INVALID_RECORD: "the record failed validation: see the field and message",
    Reason.UNKNOWN_CUSTOMER: "the record names a customer the source never sent",
    Reason.UNKNOWN_PLAN: "the line names a plan the source never sent",
    Reason.UNKNOWN_SUBSCRIPTION: "the line names a subscription the source's subscription records do not hold",
    Reason.FOREIGN_SUBSCRIPTION: "the line names a subscription of another customer than its invoice's",
    Reason.DESTINATION_REJECTED: "the destination rejected the record (4xx): see the message",
    Reason.UNMAPPED_ITEM: "a line whose item cannot be classified as recurring or one-time: map it with `saasync review map`",
    Reason.DESTINATION_CONFLICT: "the destination already holds this external id with different content",
    Reason.NO_INVOICE: "the billing system has issued no invoice for it yet",
    Reason.NO_ACTIVE_INVOICE: "only draft / failed / void invoices",
    Reason.QUARANTINED: "a record of it failed validation: see the review queue",
    Reason.NOT_YET_SYNCED: "eligible, but no run has sent it yet",
}


class StatusCause(StrEnum):
    """Why analytics shows a subscription in another status than the billing system does.

    One per status difference, named after the record that causes it (``reconcile`` and
    ``explain``). Public like ``Reason``: never rename one.
    """

    RENEWAL_DRAFT = "RENEWAL_DRAFT"
    RENEWAL_OPEN_EXCLUDED = "RENEWAL_OPEN_EXCLUDED"
    RENEWAL_FAILED = "RENEWAL_FAILED"
    RENEWAL_VOIDED = "RENEWAL_VOIDED"
    RENEWAL_QUARANTINED = "RENEWAL_QUARANTINED"
    RENEWAL_MISSING = "RENEWAL_MISSING"
    ON_HOLD_PAST_PAID_PERIOD = "ON_HOLD_PAST_PAID_PERIOD"
    IN_GRACE = "IN_GRACE"
    CANCELLATION_NOT_SYNCED = "CANCELLATION_NOT_SYNCED"
    NOT_YET_SYNCED = "NOT_YET_SYNCED"
    # Expected differences: analytics has no status for them (nothing to fix)
    ON_HOLD_IN_PAID_PERIOD = "ON_HOLD_IN_PAID_PERIOD"
    NO_EQUIVALENT_STATUS = "NO_EQUIVALENT_STATUS"


STATUS_CAUSE_DESCRIPTIONS: dict[StatusCause, str] = {
    StatusCause.RENEWAL_DRAFT: "the renewal invoice is still a draft in billing: never sent",
    StatusCause.RENEWAL_OPEN_EXCLUDED: "the renewal invoice is unpaid and open invoices are "
                                       "excluded (open_invoices = \"exclude\")",
    StatusCause.RENEWAL_FAILED: "the renewal's payment failed (or never came after its due date)",
    StatusCause.RENEWAL_VOIDED: "the renewal invoice was voided in billing",
    StatusCause.RENEWAL_QUARANTINED: "the renewal invoice failed validation: see `saasync review`",
    StatusCause.RENEWAL_MISSING: "billing issued no renewal invoice for the period",
    StatusCause.ON_HOLD_PAST_PAID_PERIOD: "paused in billing and the paid period has ended: "
                                          "Past-Due until billing cancels or resumes it",
    StatusCause.IN_GRACE: "within the grace period after the paid period (or before the "
                          "unpaid invoice's due date): analytics still shows it Active",
    StatusCause.CANCELLATION_NOT_SYNCED: "cancelled in billing; the Cancelled marker has not "
                                         "reached analytics yet",
    StatusCause.NOT_YET_SYNCED: "billing changed it since the last run: run `saasync sync`",
    StatusCause.ON_HOLD_IN_PAID_PERIOD: "paused in billing; analytics keeps it Active until "
                                        "the paid period ends (it has no on-hold status)",
    StatusCause.NO_EQUIVALENT_STATUS: "billing's status (e.g. trialing) has no equivalent "
                                      "among analytics' statuses",
}
