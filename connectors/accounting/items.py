"""Which item (or account) codes are recurring plans and which are one-time charges.

Accounting lines carry an item or account code and nothing that says "subscription".
The user says it, in two places that both apply:

- the connection's options: ``item_plans`` (code → plan) and ``one_time_items`` (codes);
- mappings made in the review queue with ``saasync review map`` (``context.item_mappings``),
  which win over the options for the same code, because they are the later, explicit word.

Plans are synthesized from these mappings; a plan named twice must be named the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from saasync.connector import ItemMapping
from saasync.errors import ConfigError

INTERVAL_UNITS: dict[str, str] = {
    **dict.fromkeys(("day", "days", "daily"), "day"),
    **dict.fromkeys(("week", "weeks", "weekly"), "week"),
    **dict.fromkeys(("month", "months", "monthly"), "month"),
    **dict.fromkeys(("year", "years", "yearly", "annual", "annually"), "year"),
}
_PLAN_KEYS = ("plan", "name", "interval_unit", "interval_count")


@dataclass(frozen=True)
class PlanSpec:
    """A plan the connector yields as a ``Plan`` record and names on subscription lines."""

    external_id: str
    name: str
    interval_unit: str = "month"
    interval_count: int = 1


@dataclass(frozen=True)
class Classification:
    """The verdict on one line: a subscription line of ``plan``, or a one-time line."""

    kind: Literal["subscription", "one_time"]
    code: str
    plan: PlanSpec | None = None
    source: str = "config"  # config | review | repeating: where the verdict came from


def _unit(value: Any, where: str) -> str:
    unit = INTERVAL_UNITS.get(str(value).strip().lower())
    if unit is None:
        raise ConfigError(f"{where}: interval_unit {value!r} is not one of day, week, month, year")
    return unit


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: interval_count must be an integer >= 1, got {value!r}")
    return value


def _plan_from_option(code: str, value: Any, where: str) -> PlanSpec:
    if isinstance(value, str) and value.strip():  # shorthand: code = "plan-id" (monthly)
        return PlanSpec(value.strip(), value.strip())
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table such as {{ plan = \"growth-monthly\", "
                          f"name = \"Growth\", interval_unit = \"month\", interval_count = 1 }}")
    unknown = sorted(set(value) - set(_PLAN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(_PLAN_KEYS)})")
    plan = value.get("plan")
    if not isinstance(plan, str) or not plan.strip():
        raise ConfigError(f"{where}: 'plan' (the plan's external id) is required")
    name = value.get("name", plan)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: 'name' must be a non-empty string")
    return PlanSpec(plan.strip(), name.strip(), _unit(value.get("interval_unit", "month"), where),
                    _count(value.get("interval_count", 1), where))


def _plan_from_review(mapping: ItemMapping) -> PlanSpec | None:
    if mapping.one_time or not mapping.plan_external_id:
        return None
    where = f"review mapping of item {mapping.item!r}"
    return PlanSpec(mapping.plan_external_id, mapping.plan_name or mapping.plan_external_id,
                    _unit(mapping.interval_unit, where), _count(mapping.interval_count, where))


class ItemRules:
    """The user's verdicts by code. Build with :meth:`from_options`."""

    def __init__(self, plans: Mapping[str, PlanSpec], one_time: Iterable[str],
                 review: Mapping[str, ItemMapping] | None = None) -> None:
        self._verdicts: dict[str, Classification] = {}
        for code in one_time:
            self._verdicts[code] = Classification("one_time", code)
        for code, plan in plans.items():
            if code in self._verdicts:
                raise ConfigError(f"item {code!r} is both in one_time_items and in item_plans")
            self._verdicts[code] = Classification("subscription", code, plan)
        for code, mapping in (review or {}).items():
            reviewed = _plan_from_review(mapping)
            if mapping.one_time:
                self._verdicts[code] = Classification("one_time", code, source="review")
            elif reviewed is not None:
                self._verdicts[code] = Classification("subscription", code, reviewed, "review")
        self._plans: dict[str, PlanSpec] = {}
        for verdict in self._verdicts.values():
            if verdict.plan is not None:
                self.add_plan(verdict.plan, f"item {verdict.code!r}")

    @classmethod
    def from_options(cls, connector: str, options: Mapping[str, Any],
                     review: Mapping[str, ItemMapping]) -> ItemRules:
        """Parse ``item_plans`` and ``one_time_items``; a malformed entry is a ConfigError."""
        raw_plans = options.get("item_plans", {})
        if not isinstance(raw_plans, Mapping):
            raise ConfigError(f"{connector} connector: option 'item_plans' must be a table of "
                              "item code → plan")
        plans = {str(code): _plan_from_option(str(code), value,
                                              f"{connector} connector: item_plans.{code}")
                 for code, value in raw_plans.items()}
        raw_one_time = options.get("one_time_items", [])
        if not isinstance(raw_one_time, list | tuple) or not all(
                isinstance(code, str) and code.strip() for code in raw_one_time):
            raise ConfigError(f"{connector} connector: option 'one_time_items' must be a list of "
                              "item codes")
        try:
            return cls(plans, [code.strip() for code in raw_one_time], review)
        except ConfigError as exc:
            raise ConfigError(f"{connector} connector: {exc}") from None

    def add_plan(self, plan: PlanSpec, named_by: str) -> PlanSpec:
        """Register a plan; the same id with another name or interval is a ConfigError."""
        known = self._plans.setdefault(plan.external_id, plan)
        if known != plan:
            raise ConfigError(
                f"plan {plan.external_id!r} is defined twice differently ({named_by}: "
                f"{plan.name!r} every {plan.interval_count} {plan.interval_unit}; before: "
                f"{known.name!r} every {known.interval_count} {known.interval_unit})")
        return known

    def classify(self, codes: Sequence[str]) -> Classification | None:
        """The verdict for the first of ``codes`` (most specific first) that has one."""
        for code in codes:
            verdict = self._verdicts.get(code)
            if verdict is not None:
                return verdict
        return None

    def plans(self) -> list[PlanSpec]:
        """Every plan known so far, sorted by id (deterministic output)."""
        return sorted(self._plans.values(), key=lambda p: p.external_id)
