"""Money in minor units: ISO 4217 exponents and exact decimal conversion (never float)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 active codes whose minor unit is not 2 decimals.
_EXPONENT_EXCEPTIONS: dict[str, int] = {
    # zero-decimal
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # three-decimal
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal
    "CLF": 4, "UYW": 4,
}

# ISO 4217 active codes with the usual two decimals.
_TWO_DECIMAL = frozenset(
    ["AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG", "ZWL"]
)


# The largest amount in minor units a destination can store: ChartMogul's and SQLite's
# integers are signed 64-bit. A bigger amount is a validation error, never an overflow later.
MAX_AMOUNT = 2**63 - 1


class UnknownCurrency(ValueError):
    """A currency code that is not an active ISO 4217 code."""


def currency_exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    code = currency.upper()
    if code in _EXPONENT_EXCEPTIONS:
        return _EXPONENT_EXCEPTIONS[code]
    if code in _TWO_DECIMAL:
        return 2
    raise UnknownCurrency(f"unknown currency code {currency!r} (expected an ISO 4217 code)")


def is_known_currency(currency: str) -> bool:
    code = currency.upper()
    return code in _EXPONENT_EXCEPTIONS or code in _TWO_DECIMAL


_MAX_DIGITS = len(str(MAX_AMOUNT))  # 19


def _shown(amount: object) -> str:
    """The amount as given, cut short: a 5,000-digit value is not repeated in full."""
    if isinstance(amount, int) and amount.bit_length() > 128:
        text = f"{Decimal(amount):.6E}"
    else:
        text = repr(amount)
    return text if len(text) <= 40 else text[:37] + "..."


def _too_large(amount: object, currency: str) -> ValueError:
    shown = _shown(amount)
    limit = format(Decimal(MAX_AMOUNT).scaleb(-currency_exponent(currency)), "f")
    return ValueError(
        f"amount {shown} is too large: amounts are stored as signed 64-bit integers of minor "
        f"units (at most {limit} {currency.upper()})"
    )


def _plain_minor(text: str, exponent: int) -> int | None:
    """``"-12.3"`` → ``-1230`` (exponent 2) by integer arithmetic, or None for any other form
    (exponents, spaces, too many decimals, too many digits), which the Decimal path then
    reads or rejects."""
    body = text[1:] if text[:1] == "-" else text
    head, _, tail = body.partition(".")
    if not (head.isascii() and head.isdigit()) or len(tail) > exponent:
        return None
    if tail and not (tail.isascii() and tail.isdigit()):
        return None
    if len(head) + exponent > _MAX_DIGITS:
        return None
    value = int(head + tail.ljust(exponent, "0"))
    if value > MAX_AMOUNT:
        return None
    return -value if body is not text else value


def to_minor(amount: str | int | Decimal, currency: str, *, rounded: bool = False) -> int:
    """Convert a decimal amount in major units (``"12.34"``) to integer minor units exactly.

    Strings, ints and Decimals only: a float has already lost the exact value. An amount
    with more decimals than the currency allows is an error, not silently rounded (unless
    ``rounded``: for amounts computed by us, rounded half-even). An amount whose minor
    units do not fit a signed 64-bit integer is an error (``MAX_AMOUNT``). Every problem
    is a ValueError (or TypeError for a float): nothing else escapes, whatever the input.
    """
    exponent = currency_exponent(currency)
    if type(amount) is str:
        fast = _plain_minor(amount, exponent)
        if fast is not None:
            return fast
    if isinstance(amount, float):
        raise TypeError("money must not be given as float; pass a string or Decimal")
    try:
        if isinstance(amount, Decimal):
            value = amount
        elif isinstance(amount, int) and not isinstance(amount, bool):
            value = Decimal(amount)
        else:
            value = Decimal(str(amount).strip())
    except (InvalidOperation, ArithmeticError) as exc:
        raise ValueError(f"not a decimal amount: {_shown(amount)}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if value and value.adjusted() + exponent >= _MAX_DIGITS:  # before any big arithmetic
        raise _too_large(amount, currency)
    try:
        scaled = value.scaleb(exponent)
        integral = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    except ArithmeticError as exc:
        raise ValueError(f"not a usable decimal amount: {amount!r}") from exc
    if integral != scaled and not rounded:
        raise ValueError(
            f"{_shown(amount)} has more decimals than {currency.upper()} allows ({exponent})"
        )
    minor = int(integral)
    if abs(minor) > MAX_AMOUNT:
        raise _too_large(amount, currency)
    return minor


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units back to an exact Decimal in major units."""
    return Decimal(minor).scaleb(-currency_exponent(currency))


def format_money(minor: int, currency: str) -> str:
    exp = currency_exponent(currency)
    value = to_major(minor, currency)
    return f"{value:,.{exp}f} {currency.upper()}"
