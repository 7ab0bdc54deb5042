"""Item rules (options + review mappings) and service-period inference shared by the
accounting connectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from saasync.connector import ItemMapping
from saasync.errors import ConfigError
from saasync.models import InvoiceStatus
from saasync.reasons import Reason
from saasync_connectors.accounting.items import ItemRules, PlanSpec
from saasync_connectors.accounting.lines import InvoiceFrame, SourceLine, build_lines
from saasync_connectors.accounting.periods import add_interval, service_period
from saasync_connectors.accounting.records import MappingError, minor, quantity

ISSUED = datetime(2026, 3, 5, tzinfo=UTC)


def rules(**options: object) -> ItemRules:
    return ItemRules.from_options("test", options, {})


def test_item_plans_accept_a_table_or_a_plan_id() -> None:
    parsed = rules(item_plans={"A": {"plan": "a-yearly", "name": "A", "interval_unit": "annual",
                                     "interval_count": 1}, "B": "b-monthly"},
                   one_time_items=["C"])
    assert parsed.plans() == [PlanSpec("a-yearly", "A", "year"), PlanSpec("b-monthly",
                                                                          "b-monthly")]
    a = parsed.classify(["nope", "A"])
    c = parsed.classify(["C"])
    assert a is not None and a.plan is not None and a.plan.external_id == "a-yearly"
    assert c is not None and c.kind == "one_time"
    assert parsed.classify(["D"]) is None


@pytest.mark.parametrize(("options", "match"), [
    ({"item_plans": ["A"]}, "table of item code"),
    ({"item_plans": {"A": {"name": "x"}}}, "'plan'"),
    ({"item_plans": {"A": {"plan": "p", "colour": "red"}}}, "unknown key"),
    ({"item_plans": {"A": {"plan": "p", "interval_count": 0}}}, "interval_count"),
    ({"item_plans": {"A": {"plan": "p", "interval_unit": "fortnight"}}}, "interval_unit"),
    ({"one_time_items": ["A", 3]}, "one_time_items"),
    ({"item_plans": {"A": {"plan": "p"}, "B": {"plan": "p", "interval_unit": "year"}}},
     "defined twice"),
])
def test_bad_item_options_are_config_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        rules(**options)


def test_review_mappings_win_and_define_plans() -> None:
    review = {"A": ItemMapping("A", one_time=True),
              "C": ItemMapping("C", plan_external_id="c-weekly", interval_unit="weekly"),
              "D": ItemMapping("D")}  # neither: ignored
    parsed = ItemRules.from_options("test", {"item_plans": {"A": "a-monthly"}}, review)
    a, c = parsed.classify(["A"]), parsed.classify(["C"])
    assert a is not None and (a.kind, a.source) == ("one_time", "review")
    assert c is not None and c.plan == PlanSpec("c-weekly", "c-weekly", "week")
    assert parsed.classify(["D"]) is None
    assert [p.external_id for p in parsed.plans()] == ["c-weekly"]


@pytest.mark.parametrize(("text", "day_first", "start", "end", "rule"), [
    ("Gold 01/03/2026 - 31/03/2026", True, (2026, 3, 1), (2026, 4, 1), "range"),
    ("Gold 03/01/2026 - 03/31/2026", False, (2026, 3, 1), (2026, 4, 1), "range"),
    ("2026-03-01 to 2026-03-31", True, (2026, 3, 1), (2026, 4, 1), "range"),
    ("1 Mar 2026 – 31 Mar 2026", False, (2026, 3, 1), (2026, 4, 1), "range"),
    ("March 1, 2026 through May 31, 2026", False, (2026, 3, 1), (2026, 6, 1), "range"),
    ("Support, January 2026", True, (2026, 1, 1), (2026, 2, 1), "month"),
    ("Gold Plan Monthly", True, (2026, 3, 5), (2026, 4, 5), "invoice_date"),
    ("Gold, annual", True, (2026, 3, 5), (2027, 3, 5), "invoice_date"),
    ("Quarterly retainer", True, (2026, 3, 5), (2026, 6, 5), "invoice_date"),
    ("Weekly box", True, (2026, 3, 5), (2026, 3, 12), "invoice_date"),
    ("Mayfair 2026 office", True, (2026, 3, 5), (2027, 3, 5), "invoice_date"),
    ("2026-02-30 - 2026-03-01 (typo)", True, (2026, 3, 5), (2027, 3, 5), "invoice_date"),
    (None, True, (2026, 3, 5), (2027, 3, 5), "invoice_date"),
])
def test_service_periods(text: str | None, day_first: bool, start: tuple[int, int, int],
                         end: tuple[int, int, int], rule: str) -> None:
    period = service_period(text, service_date=None, issued_at=ISSUED, interval=("year", 1),
                            day_first=day_first)
    assert (period.start, period.end, period.rule) == \
        (datetime(*start, tzinfo=UTC), datetime(*end, tzinfo=UTC), rule)


def test_a_service_date_starts_the_period() -> None:
    period = service_period("Gold", service_date=datetime(2026, 1, 31, tzinfo=UTC),
                            issued_at=ISSUED, interval=("month", 1), day_first=False)
    assert (period.end, period.rule) == (datetime(2026, 2, 28, tzinfo=UTC), "service_date")
    assert add_interval(ISSUED, "day", 3) == datetime(2026, 3, 8, tzinfo=UTC)
    with pytest.raises(ValueError):
        add_interval(ISSUED, "fortnight", 1)


def frame(status: InvoiceStatus = InvoiceStatus.OPEN, template: str | None = None) -> InvoiceFrame:
    return InvoiceFrame("Test", "inv-1", "T-1", "cus-1", ISSUED, status, template)


def test_all_unmapped_codes_are_listed_and_the_first_named() -> None:
    lines = [SourceLine(0, ("GOLD",), 100), SourceLine(1, ("X", "400"), 50, description="Extra"),
             SourceLine(2, ("Y",), 10)]
    gold_only = ItemRules({"GOLD": PlanSpec("gold", "Gold")}, [])
    with pytest.raises(MappingError) as caught:
        build_lines(frame(), lines, gold_only, day_first=True)
    error = caught.value
    assert (error.reason, error.field) == (Reason.UNMAPPED_ITEM, "lines.1.item")
    assert error.raw["unmapped_items"] == ["X", "Y"] and "also unmapped: Y" in error.message
    assert error.raw["codes"] == ["X", "400"]


def test_a_line_without_any_code_says_so() -> None:
    with pytest.raises(MappingError, match="no item or account code") as caught:
        build_lines(frame(), [SourceLine(0, (), 100)], ItemRules({}, []), day_first=True)
    assert caught.value.raw["item"] is None


def test_money_helpers() -> None:
    assert minor("12.34", "USD", "invoice", "1", "x") == 1234
    assert minor("12.345", "KWD", "invoice", "1", "x") == 12345
    assert minor("12.345", "USD", "invoice", "1", "x", rounded=True) == 1234
    assert minor(0.1, "USD", "invoice", "1", "x") == 10
    for bad in ("12.345", None, True, "abc", "NaN"):
        with pytest.raises(MappingError):
            minor(bad, "USD", "invoice", "1", "x")
    assert [quantity(q) for q in ("2.0000", 3, "1.5", 0, None, "x", True)] == [2, 3, 1, 1, 1, 1, 1]
