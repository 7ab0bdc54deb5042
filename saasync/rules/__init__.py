"""The domain rules (docs/rules.md §1–§5) as pure functions: no I/O, no clock, no globals."""

from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer, histories_from
from saasync.rules.filter import Action, FilterDecision, decide_invoice

__all__ = [
    "Action",
    "CustomerHistory",
    "FilterDecision",
    "RuleSettings",
    "build_customer",
    "decide_invoice",
    "histories_from",
]
