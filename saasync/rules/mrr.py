"""MRR (docs/rules.md §4): a subscription line's (amount − tax) normalized to one month, per currency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from dateutil.relativedelta import relativedelta

from saasync.models import Plan
from saasync.rules.changeset import OutLine

_DAYS_PER_MONTH = Fraction(365.25) / 12  # 30.4375, as ChartMogul counts a month


def monthly_factor(interval_unit: str, interval_count: int) -> Fraction:
    """What one period's amount is worth per month."""
    if interval_unit == "month":
        return Fraction(1, interval_count)
    if interval_unit == "year":
        return Fraction(1, 12 * interval_count)
    if interval_unit == "week":
        return Fraction(52, 12) / interval_count
    if interval_unit == "day":
        return _DAYS_PER_MONTH / interval_count
    raise ValueError(f"unknown interval_unit {interval_unit!r}")


def _full_period_end(start: datetime, plan: Plan) -> datetime:
    step = {
        "day": relativedelta(days=plan.interval_count),
        "week": relativedelta(weeks=plan.interval_count),
        "month": relativedelta(months=plan.interval_count),
        "year": relativedelta(years=plan.interval_count),
    }[plan.interval_unit]
    return start + step


def line_mrr_exact(line: OutLine, plan: Plan) -> Fraction:
    """Unrounded MRR of one subscription line; one-time lines are worth nothing."""
    if line.kind != "subscription":
        return Fraction(0)
    value = Fraction(line.amount - line.tax_amount) * monthly_factor(
        plan.interval_unit, plan.interval_count
    )
    if line.prorated and line.service_period_start and line.service_period_end:
        # A partial-period charge stands for a full period: scale it up (ChartMogul §10.1).
        actual = (line.service_period_end - line.service_period_start).total_seconds()
        full = (_full_period_end(line.service_period_start, plan) - line.service_period_start)
        if actual > 0:
            value = value * Fraction(full.total_seconds()) / Fraction(actual)
    return value


def round_minor(value: Fraction) -> int:
    """Round to the nearest minor unit, halves away from zero."""
    return int(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def line_mrr(line: OutLine, plan: Plan) -> int:
    return round_minor(line_mrr_exact(line, plan))


def add_per_currency(
    totals: Mapping[str, int], amounts: Iterable[tuple[str, int]]
) -> dict[str, int]:
    """Sum amounts per currency; different currencies are never added together."""
    out = dict(totals)
    for currency, amount in amounts:
        out[currency] = out.get(currency, 0) + amount
    return out
