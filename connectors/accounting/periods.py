"""Service periods for accounting lines, which carry at most one service date.

In order, the first that applies:

1. a date range written in the line description: ``01/03/2026 - 31/03/2026``,
   ``2026-03-01 to 2026-03-31``, ``1 Mar 2026 – 31 Mar 2026``. The end date is the last
   day of service, so the period ends at the start of the next day;
2. a month written in the description: ``Jan 2026``, ``January 2026`` (that whole month);
3. from the line's service date (QuickBooks ``ServiceDate``), else the invoice date, for
   the length a keyword in the description states (``weekly``, ``monthly``,
   ``quarterly``, ``annual``/``yearly``), else for the plan's interval.

Numeric dates are read day-first or month-first as the connector's ``day_first`` option
says; a component above 12 settles it either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
               r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?")
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"  # 2026-03-01
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"  # 01/03/2026, 1.3.26
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH_WORD},?\s+\d{{4}}"  # 1 Mar 2026
    rf"|{_MONTH_WORD}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"  # March 1, 2026
)
_RANGE = re.compile(rf"({_DATE})\s*(?:-|–|—|to|until|till|through|thru)\s*({_DATE})",
                    re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_WORD})\s+(\d{{4}})\b", re.IGNORECASE)
_KEYWORDS: tuple[tuple[re.Pattern[str], str, int], ...] = (
    (re.compile(r"\b(?:annual|annually|yearly|per year|12 months)\b", re.IGNORECASE), "year", 1),
    (re.compile(r"\b(?:quarterly|per quarter)\b", re.IGNORECASE), "month", 3),
    (re.compile(r"\b(?:monthly|per month)\b", re.IGNORECASE), "month", 1),
    (re.compile(r"\b(?:weekly|per week)\b", re.IGNORECASE), "week", 1),
)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    rule: str  # which rule found it: range | month | service_date | invoice_date


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def add_interval(start: datetime, unit: str, count: int) -> datetime:
    """``start`` plus ``count`` units; month ends clamp (Jan 31 + 1 month = Feb 28)."""
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    if unit == "month":
        return start + relativedelta(months=count)
    if unit == "year":
        return start + relativedelta(years=count)
    raise ValueError(f"unknown interval unit {unit!r}")


def _parse_date(text: str, day_first: bool) -> date | None:
    try:
        iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
        if iso is not None:  # ISO is year-month-day whatever day_first says
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        return dateparser.parse(text, dayfirst=day_first, default=datetime(2000, 1, 1)).date()
    except (ValueError, OverflowError):
        return None


def described_range(text: str, day_first: bool) -> tuple[datetime, datetime] | None:
    """An explicit range in the text, as ``[first day, day after the last day)``."""
    for match in _RANGE.finditer(text):
        first, last = _parse_date(match.group(1), day_first), _parse_date(match.group(2), day_first)
        if first is not None and last is not None and last >= first:
            return midnight(first), midnight(last + timedelta(days=1))
    return None


def described_month(text: str) -> tuple[datetime, datetime] | None:
    """A "Jan 2026" style month in the text, as that whole month."""
    match = _MONTH_YEAR.search(text)
    if match is None:
        return None
    month = _MONTHS.index(match.group(1)[:3].lower()) + 1
    start = midnight(date(int(match.group(2)), month, 1))
    return start, add_interval(start, "month", 1)


def described_interval(text: str) -> tuple[str, int] | None:
    """The billing interval a keyword in the text states ("Monthly", "Annual"), if any."""
    for pattern, unit, count in _KEYWORDS:
        if pattern.search(text):
            return unit, count
    return None


def service_period(description: str | None, *, service_date: datetime | None,
                   issued_at: datetime, interval: tuple[str, int], day_first: bool) -> Period:
    """The line's service period by the rules in this module's docstring."""
    text = description or ""
    found = described_range(text, day_first)
    if found is not None:
        return Period(*found, rule="range")
    found = described_month(text)
    if found is not None:
        return Period(*found, rule="month")
    unit, count = described_interval(text) or interval
    start = service_date if service_date is not None else issued_at
    return Period(start, add_interval(start, unit, count),
                  rule="service_date" if service_date is not None else "invoice_date")
