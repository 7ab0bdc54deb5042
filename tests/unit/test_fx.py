"""Exchange rates: dated tables read from CSV or JSON, exact conversion between minor units."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from saasync.fx import MissingRate, RatesFileError, load_rates, parse_rates, sample_rates

CSV = """# rates against one base (here USD = 1)
date,currency,rate
2024-01-01,USD,1
2024-01-01,EUR,0.90
2024-01-01,JPY,150
2024-02-01,EUR,0.80
"""


def test_the_rate_of_a_day_is_the_latest_one_on_or_before_it() -> None:
    rates = parse_rates(CSV, "t.csv")
    assert rates.rate("EUR", date(2024, 1, 31)) == Fraction(9, 10)
    assert rates.rate("EUR", date(2024, 2, 1)) == Fraction(8, 10)
    with pytest.raises(MissingRate) as caught:
        rates.rate("EUR", date(2023, 12, 31))
    assert caught.value.currency == "EUR" and caught.value.day == date(2023, 12, 31)
    with pytest.raises(MissingRate):
        rates.rate("GBP", date(2024, 3, 1))


def test_conversion_respects_each_currency_s_minor_unit_exactly() -> None:
    rates = parse_rates(CSV, "t.csv")
    day = date(2024, 1, 15)
    assert rates.convert(9000, "EUR", "USD", day) == 10000  # 90.00 EUR → 100.00 USD
    assert rates.convert(15000, "JPY", "USD", day) == 10000  # 15,000 yen → 100.00 USD
    assert rates.convert(1234, "USD", "JPY", day) == 1851  # 12.34 USD → 1,851 yen
    assert rates.convert(1, "EUR", "USD", day) == Fraction(10, 9)  # exact, not rounded
    assert rates.convert(777, "USD", "USD", date(1999, 1, 1)) == 777  # no rate needed
    # one rounding for the whole total, half away from zero
    assert rates.total({"EUR": 1, "USD": 0}, "USD", day) == 1
    assert rates.total({"EUR": -1}, "USD", day) == -1


def test_json_tables_name_their_base_and_keep_decimals_exact(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(
        '{"note": "test", "base": "EUR", "rates": {"2024-01-01": {"USD": 1.1, "JPY": 160}}}',
        encoding="utf-8",
    )
    rates = load_rates(path)
    assert rates.rate("USD", date(2024, 5, 1)) == Fraction(11, 10)  # not 1.100000000000000088
    assert rates.rate("EUR", date(2024, 5, 1)) == 1
    assert rates.convert(1100, "USD", "EUR", date(2024, 5, 1)) == 1000


@pytest.mark.parametrize(
    ("text", "name", "needle"),
    [
        ("date,currency,rate\n2024-01-01,EUR,-1\n", "x.csv", "positive"),
        ("date,currency,rate\n2024-13-01,EUR,1\n", "x.csv", "line 2"),
        ("date,currency,rate\n2024-01-01,XXX,1\n", "x.csv", "XXX"),
        ("date,currency\n2024-01-01,EUR\n", "x.csv", "date,currency,rate"),
        ('{"rates": {}}', "x.json", "base"),
    ],
)
def test_a_bad_rates_file_says_where(text: str, name: str, needle: str) -> None:
    with pytest.raises(RatesFileError, match=needle):
        parse_rates(text, name)


def test_the_bundled_table_is_labelled_as_sample_rates_and_covers_the_sample() -> None:
    rates = sample_rates()
    assert "sample" in rates.label.lower()
    for currency in ("USD", "EUR", "JPY"):
        assert rates.rate(currency, date(2026, 6, 30)) > 0
