"""Exchange rates: a dated table read from CSV or JSON, and exact conversion of minor units.

A table holds, for each currency, dated rates against one base currency: ``rate`` is how
many units of the currency one unit of the base buys (the base itself is 1). The rate of
a day is the latest one dated on or before it; a day before a currency's first rate has
none, and asking for it raises ``MissingRate`` rather than guessing. Conversion goes
through the base with ``Fraction``s and each currency's ISO 4217 exponent (JPY 0, USD 2,
KWD 3), so nothing is lost until a caller rounds a total once.

Files:

- CSV, header ``date,currency,rate``, one row per currency and day; lines starting with
  ``#`` are comments. List the base currency too, with rate 1.
- JSON, ``{"base": "EUR", "rates": {"2024-01-01": {"USD": "1.0876", "JPY": 160.2}}}``
  (numbers or strings; read as exact decimals); other top-level keys (``note``) are free.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from saasync.money import currency_exponent, is_known_currency
from saasync.rules.mrr import round_minor

SAMPLE_RATES_FILE = "fx_rates_sample.csv"


class MissingRate(LookupError):
    """The table has no rate for ``currency`` on or before ``day``."""

    def __init__(self, currency: str, day: date, label: str) -> None:
        self.currency = currency
        self.day = day
        self.label = label
        super().__init__(f"no exchange rate for {currency} on {day.isoformat()} in {label}")


class RatesFileError(ValueError):
    """A rates file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class RateTable:
    """Dated rates per currency (units of the currency per unit of the table's base)."""

    label: str  # where the table came from, for messages
    days: Mapping[str, tuple[date, ...]] = field(default_factory=dict)  # ascending, per currency
    values: Mapping[str, tuple[Fraction, ...]] = field(default_factory=dict)

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted(self.days))

    def rate(self, currency: str, day: date) -> Fraction:
        code = currency.upper()
        days = self.days.get(code, ())
        at = bisect.bisect_right(days, day)
        if at == 0:
            raise MissingRate(code, day, self.label)
        return self.values[code][at - 1]

    def convert(self, minor: int, currency: str, to: str, day: date) -> Fraction:
        """``minor`` units of ``currency`` in minor units of ``to`` at ``day``'s rates, exact."""
        if currency.upper() == to.upper():
            return Fraction(minor)
        ratio = self.rate(to, day) / self.rate(currency, day)
        shift = currency_exponent(to) - currency_exponent(currency)
        return Fraction(minor) * ratio * Fraction(10) ** shift

    def total(self, amounts: Mapping[str, int], to: str, day: date) -> int:
        """The sum of amounts in several currencies, in ``to``, rounded once (half away from 0)."""
        exact = sum(
            (self.convert(amount, currency, to, day) for currency, amount in amounts.items()),
            start=Fraction(0),
        )
        return round_minor(exact)


def _decimal(text: str, where: str) -> Fraction:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RatesFileError(f"{where}: rate {text!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise RatesFileError(f"{where}: rate {text!r} must be a positive number")
    return Fraction(value)


def _currency(text: str, where: str) -> str:
    code = text.strip().upper()
    if not is_known_currency(code):
        raise RatesFileError(f"{where}: {text!r} is not an ISO 4217 currency code")
    return code


def _day(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RatesFileError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None


def _table(label: str, rows: list[tuple[date, str, Fraction]]) -> RateTable:
    by_currency: dict[str, dict[date, Fraction]] = {}
    for day, currency, rate in rows:
        by_currency.setdefault(currency, {})[day] = rate
    days = {c: tuple(sorted(r)) for c, r in by_currency.items()}
    values = {c: tuple(by_currency[c][d] for d in days[c]) for c in by_currency}
    return RateTable(label, days, values)


def _parse_csv(text: str, label: str) -> RateTable:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    if not lines:
        raise RatesFileError(f"{label}: no rates (expected a header date,currency,rate)")
    header_no, header = lines[0]
    if [h.strip().lower() for h in header.split(",")] != ["date", "currency", "rate"]:
        raise RatesFileError(f"{label} line {header_no}: the header must be date,currency,rate")
    rows = []
    for number, line in lines[1:]:
        where = f"{label} line {number}"
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) != 3:
            raise RatesFileError(f"{where}: expected 3 cells (date,currency,rate)")
        rows.append((_day(cells[0], where), _currency(cells[1], where), _decimal(cells[2], where)))
    return _table(label, rows)


def _parse_json(text: str, label: str) -> RateTable:
    try:
        doc: Any = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise RatesFileError(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("base"), str):
        raise RatesFileError(
            f'{label}: expected {{"base": "EUR", "rates": {{DATE: {{CODE: RATE}}}}}}'
        )
    base = _currency(doc["base"], label)
    by_day = doc.get("rates")
    if not isinstance(by_day, dict):
        raise RatesFileError(f'{label}: "rates" must map dates to {{currency: rate}}')
    rows = []
    for day_text, rates in by_day.items():
        where = f"{label} rates[{day_text!r}]"
        day = _day(str(day_text), where)
        if not isinstance(rates, dict):
            raise RatesFileError(f"{where}: expected {{currency: rate}}")
        rows.append((day, base, Fraction(1)))
        for code, rate in rates.items():
            rows.append(
                (day, _currency(str(code), where), _decimal(str(rate), f"{where}[{code!r}]"))
            )
    return _table(label, rows)


def parse_rates(text: str, label: str) -> RateTable:
    """A table from a file's text: JSON when it starts with ``{``, CSV otherwise."""
    if text.lstrip().startswith("{"):
        return _parse_json(text, label)
    return _parse_csv(text, label)


def load_rates(path: str | Path) -> RateTable:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RatesFileError(f"cannot read rates file {file}: {exc.strerror or exc}") from None
    return parse_rates(text, str(file))


def sample_rates() -> RateTable:
    """The bundled SAMPLE table (USD, EUR, JPY): made-up round rates for the sample business
    and rehearsals, not market data."""
    text = resources.files("saasync.defaults").joinpath(SAMPLE_RATES_FILE).read_text("utf-8")
    return parse_rates(text, f"the bundled sample rates ({SAMPLE_RATES_FILE})")
