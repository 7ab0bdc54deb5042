"""The metrics API (§9): all key metrics, MRR with its movements, customer count, and the
single-metric endpoints, over ``start-date``..``end-date`` by month, quarter or year.

Entries are dated at each interval's end (the last one at ``end-date``); the first
entry's ``percentage-change`` is 0.0; ``summary`` compares the last entry with the one
before it (or with the instant before the first interval). ``interval`` defaults to
``month`` (ChartMogul's default is unconfirmed); ``day`` and ``week`` and the ``geo``,
``plans`` and ``filters`` parameters are refused with a 400 rather than ignored.

Money is in the account currency (``serve --currency``), each amount converted at its
day's rate (``serve --fx-rates``); when a needed rate is missing the answer is a 422
naming the currency and the day, never a sum of unlike units. Customer counts need no rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from saasync.fx import MissingRate
from saasync.server.analytics import (
    INTERVALS,
    MetricPoint,
    Money,
    metric_points,
    pairs,
    percentage_change,
)
from saasync.server.context import ApiContext
from saasync.server.routing import Handler, Route, route
from saasync.server.wire import ApiError, ApiRequest, ApiResponse

ALL_KEYS = (
    ("mrr", "mrr"), ("arr", "arr"), ("customer-churn-rate", "customer_churn_rate"),
    ("mrr-churn-rate", "mrr_churn_rate"), ("ltv", "ltv"), ("customers", "customers"),
    ("asp", "asp"), ("arpa", "arpa"),
)  # fmt: skip
COUNTS_ONLY = frozenset({"/v1/metrics/customer-count", "/v1/metrics/customer-churn-rate"})
MRR_MOVES = (
    ("mrr-new-business", "new_business"), ("mrr-expansion", "expansion"),
    ("mrr-contraction", "contraction"), ("mrr-churn", "churn"),
    ("mrr-reactivation", "reactivation"),
)  # fmt: skip


def _date(request: ApiRequest, name: str) -> date:
    text = request.param(name)
    if text is None:
        raise ApiError.bad_param(name, f'Parameter "{name}" is missing')
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError.bad_param(name, f'Parameter "{name}" must be a date (YYYY-MM-DD)') from None


def _points(ctx: ApiContext, request: ApiRequest) -> tuple[list[MetricPoint], MetricPoint]:
    for name in ("geo", "plans", "filters"):
        if request.param(name) is not None:
            raise ApiError.bad_param(name, f'Parameter "{name}" is not supported by saasync serve')
    start, end = _date(request, "start-date"), _date(request, "end-date")
    if end < start:
        raise ApiError.bad_param("end-date", 'Parameter "end-date" is before "start-date"')
    interval = request.param("interval") or "month"
    if interval not in INTERVALS:
        raise ApiError.bad_param(
            "interval", f'Parameter "interval" must be one of {", ".join(INTERVALS)} here'
        )
    money = Money(ctx.account.currency, ctx.rates, enabled=request.path not in COUNTS_ONLY)
    try:
        return metric_points(ctx.store, start, end, interval, ctx.grace, money)
    except MissingRate as exc:
        message = (
            f"No exchange rate for {exc.currency} on {exc.day.isoformat()} to report in "
            f"{ctx.account.currency} ({exc.label}); saasync serve does not add amounts in "
            "different currencies. Add the rate to the --fx-rates file."
        )
        raise ApiError(422, {"code": 422, "message": message, "param": None}) from None


def _value(point: MetricPoint, attr: str) -> Any:
    return getattr(point, attr)


def _previous(points: list[MetricPoint], opening: MetricPoint) -> MetricPoint:
    return points[-2] if len(points) > 1 else opening


def all_metrics(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    points, opening = _points(ctx, request)
    entries = []
    for point, before in pairs(points):
        entry: dict[str, Any] = {"date": point.date.isoformat()}
        for key, attr in ALL_KEYS:
            value = _value(point, attr)
            entry[key] = value
            entry[f"{key}-percentage-change"] = (
                percentage_change(value, _value(before, attr)) if before else 0.0
            )
        entries.append(entry)
    summary: dict[str, Any] = {}
    current, previous = points[-1], _previous(points, opening)
    for key, attr in ALL_KEYS:
        now, then = _value(current, attr), _value(previous, attr)
        summary[f"current-{key}"] = now
        summary[f"previous-{key}"] = then
        summary[f"{key}-percentage-change"] = percentage_change(now, then)
    return ApiResponse(200, {"entries": entries, "summary": summary})


def _single(key: str, attr: str, moves: tuple[tuple[str, str], ...] = ()) -> Handler:
    """An endpoint with one headline metric (and, for MRR, its movements)."""

    def handler(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
        points, opening = _points(ctx, request)
        entries = []
        for point, before in pairs(points):
            value = _value(point, attr)
            change = percentage_change(value, _value(before, attr)) if before else 0.0
            entry = {"date": point.date.isoformat(), key: value, "percentage-change": change}
            entry.update({name: _value(point, field) for name, field in moves})
            entries.append(entry)
        now, then = _value(points[-1], attr), _value(_previous(points, opening), attr)
        summary = {
            "current": now,
            "previous": then,
            "percentage-change": percentage_change(now, then),
        }
        return ApiResponse(200, {"entries": entries, "summary": summary})

    return handler


ROUTES: list[Route] = [
    route("GET", "/v1/metrics/all", all_metrics),
    route("GET", "/v1/metrics/mrr", _single("mrr", "mrr", MRR_MOVES)),
    route("GET", "/v1/metrics/customer-count", _single("customers", "customers")),
    route("GET", "/v1/metrics/arr", _single("arr", "arr")),
    route("GET", "/v1/metrics/arpa", _single("arpa", "arpa")),
    route("GET", "/v1/metrics/asp", _single("asp", "asp")),
    route("GET", "/v1/metrics/ltv", _single("ltv", "ltv")),
    route(
        "GET",
        "/v1/metrics/customer-churn-rate",
        _single("customer-churn-rate", "customer_churn_rate"),
    ),
    route("GET", "/v1/metrics/mrr-churn-rate", _single("mrr-churn-rate", "mrr_churn_rate")),
]
