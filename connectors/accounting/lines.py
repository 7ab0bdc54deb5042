"""Invoice lines of accounting sources → normalized line dicts, or the whole invoice quarantined.

The vendor modules turn their lines into :class:`SourceLine` (money already in minor
units, tax included); this module classifies each one with the user's
:class:`~saasync_connectors.accounting.items.ItemRules` and gives subscription lines a plan, a
subscription id and a service period. One line that cannot be classified quarantines the
whole invoice with ``UNMAPPED_ITEM`` (sending it without that line would be wrong), so
``saasync review`` lists the item to map; once mapped, the next read classifies it.

Subscription ids: the recurring template's id when the vendor names one (Xero
``RepeatingInvoiceID``; with several plans on one invoice, ``"{template}:{plan}"``),
else ``"{customer}:{plan}"``, stable per customer and plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saasync.kit.records import MappingError
from saasync.models import InvoiceStatus
from saasync.reasons import Reason

from .items import Classification, ItemRules
from .periods import service_period

#: Statuses that never reach analytics: an unmapped line there is read as one-time rather
#: than asking the user to map an item for an invoice that will be skipped anyway.
_NEVER_SENT = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)


@dataclass(frozen=True)
class SourceLine:
    """One vendor line, money in minor units: ``amount`` after the line's own discount and
    with tax included (the normalized contract)."""

    index: int  # position in the vendor's line list: the N of the field "lines.N.item"
    codes: tuple[str, ...]  # mapping keys, most specific first (item code, then account code)
    amount: int
    discount: int = 0
    tax: int = 0
    quantity: int = 1
    description: str | None = None
    item_name: str | None = None
    external_id: str | None = None
    service_date: datetime | None = None


@dataclass(frozen=True)
class InvoiceFrame:
    """What line building needs to know about the invoice."""

    vendor: str  # "QuickBooks", "Xero": for messages
    external_id: str
    number: str | None
    customer: str
    issued_at: datetime
    status: InvoiceStatus
    template_id: str | None = None  # the recurring template that produced it, if any


Fallback = Callable[[InvoiceFrame, SourceLine], Classification | None]


def build_lines(frame: InvoiceFrame, lines: Sequence[SourceLine], rules: ItemRules, *,
                day_first: bool, fallback: Fallback | None = None) -> list[dict[str, Any]]:
    """Line dicts for :class:`saasync.models.LineItem`; MappingError(UNMAPPED_ITEM) if any
    line cannot be classified. ``fallback`` is the vendor's own recurring signal."""
    verdicts: list[tuple[SourceLine, Classification]] = []
    unmapped: list[SourceLine] = []
    for line in lines:
        verdict = rules.classify(line.codes)
        if verdict is None and fallback is not None:
            verdict = fallback(frame, line)
        if verdict is None and frame.status in _NEVER_SENT:
            verdict = Classification("one_time", line.codes[0] if line.codes else "")
        if verdict is None:
            unmapped.append(line)
        else:
            verdicts.append((line, verdict))
    if unmapped:
        raise unmapped_error(frame, unmapped)
    plans = {v.plan.external_id for _, v in verdicts if v.plan is not None}
    return [_line(frame, line, verdict, day_first, several_plans=len(plans) > 1)
            for line, verdict in verdicts]


def _line(frame: InvoiceFrame, line: SourceLine, verdict: Classification, day_first: bool, *,
          several_plans: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_id": line.external_id, "kind": verdict.kind, "quantity": line.quantity,
        "amount": line.amount, "discount_amount": max(line.discount, 0),
        # Credit lines (negative amounts) carry no tax share: the contract's tax is >= 0.
        "tax_amount": max(line.tax, 0), "description": line.description,
    }
    plan = verdict.plan
    if verdict.kind == "subscription" and plan is not None:
        period = service_period(line.description, service_date=line.service_date,
                                issued_at=frame.issued_at,
                                interval=(plan.interval_unit, plan.interval_count),
                                day_first=day_first)
        data.update(subscription_external_id=subscription_id(frame, plan.external_id,
                                                             several_plans),
                    plan_external_id=plan.external_id,
                    service_period_start=period.start, service_period_end=period.end)
    return data


def subscription_id(frame: InvoiceFrame, plan: str, several_plans: bool) -> str:
    """The recurring template's id, else a stable key per (customer, plan)."""
    if frame.template_id:
        return f"{frame.template_id}:{plan}" if several_plans else frame.template_id
    return f"{frame.customer}:{plan}"


def unmapped_error(frame: InvoiceFrame, unmapped: Sequence[SourceLine]) -> MappingError:
    """The review-queue entry: names the invoice, the first unmapped line and its code."""
    first = unmapped[0]
    code = first.codes[0] if first.codes else None
    shown = frame.number or frame.external_id
    what = f"line {first.index}" + (f" ({first.description!r})" if first.description else "")
    if code is None:
        problem = "has no item or account code to map"
    else:
        label = f"{code!r}" + (f" ({first.item_name})" if first.item_name and
                               first.item_name != code else "")
        problem = f"has item {label}, which is neither mapped to a plan nor marked one-time"
    others = sorted({line.codes[0] for line in unmapped[1:] if line.codes} - {code or ""})
    also = f"; also unmapped: {', '.join(others)}" if others else ""
    template = (f"; the invoice comes from recurring template {frame.template_id}"
                if frame.template_id else "")
    message = (f"{frame.vendor} invoice {shown!r}: {what} {problem}{also}{template}. Map it "
               "with `saasync review map` (or the item_plans / one_time_items options); the "
               "next run sends the invoice.")
    raw = {"item": code, "item_name": first.item_name, "line": first.index,
           "description": first.description, "codes": list(first.codes),
           "issued_at": frame.issued_at.isoformat(),
           "unmapped_items": sorted({line.codes[0] for line in unmapped if line.codes})}
    return MappingError("invoice", frame.external_id, f"lines.{first.index}.item", message,
                        reason=Reason.UNMAPPED_ITEM, raw=raw)
