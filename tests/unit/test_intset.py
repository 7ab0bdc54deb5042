"""IntSet behaves as a set of 64-bit ints (the read set and the duplicate-id check use it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from saasync.kit.intset import IntSet

int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@given(st.lists(st.one_of(int64, st.integers(-3, 3)), max_size=3000), st.lists(int64, max_size=50))
def test_intset_is_a_set(keys: list[int], others: list[int]) -> None:
    table, reference = IntSet(), set()
    for key in keys:
        assert table.add(key) is (key not in reference)
        reference.add(key)
    assert len(table) == len(reference)
    for key in [*keys, *others, 0]:
        assert (key in table) is (key in reference)


def test_intset_grows_past_its_first_table_and_keeps_every_key() -> None:
    table = IntSet()
    keys = [hash(f"inv_{n}") for n in range(50_000)]
    assert all(table.add(key) for key in keys)
    assert len(table) == 50_000 and all(key in table for key in keys)
    assert "inv_1" not in table  # not an int: never in it
