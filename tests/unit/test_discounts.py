"""Post-discount amounts: a proportional share of invoice discounts that adds up to the cent."""

from hypothesis import given
from hypothesis import strategies as st

from saasync.rules.discounts import allocate, post_discount_amounts
from tests.factories import invoice, one_time, sub_line


def test_shares_are_proportional_and_exact() -> None:
    assert allocate(1000, [3000, 1000]) == [750, 250]
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert sum(allocate(1, [5, 5, 5])) == 1


def test_credit_lines_take_no_share() -> None:
    assert allocate(300, [1000, -500]) == [300, 0]


def test_invoice_discount_is_taken_off_each_line_in_proportion() -> None:
    inv = invoice("in_1", "2026-01-01", [sub_line(7500), one_time(2500)], discount_amount=1000)
    assert post_discount_amounts(inv) == [6750, 2250]


def test_discount_never_takes_a_line_below_zero() -> None:
    inv = invoice("in_1", "2026-01-01", [sub_line(1000)], discount_amount=5000)
    assert post_discount_amounts(inv) == [0]


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=-10**6, max_value=10**7), min_size=1, max_size=12),
)
def test_discount_shares_add_up_to_the_cent(total: int, weights: list[int]) -> None:
    shares = allocate(total, weights)
    assert sum(shares) == total
    assert all(s >= 0 for s in shares)
    assert all(s == 0 for s, w in zip(shares, weights) if w < 0 and any(x > 0 for x in weights))
