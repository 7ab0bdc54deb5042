"""Recurly's list calls, one small class per stream, over an exact-decimal page reader.

Every list is read ``sort=updated_at&order=asc`` (with ``begin_time`` when there is a
``since``): the API warns that in descending order records updated during the scan
move behind the cursor and are missed. Invoices in a backfill are read by
``created_at`` instead, the one timestamp an issued invoice never changes.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import BadRecordError, FatalError
from saasync.http import HttpClient, NextLinkPaginator, paginate
from saasync.kit.records import MappingError
from saasync.kit.windows import Window, contains, read_in_order
from saasync.kit.windows import plan as plan_windows
from saasync.models import SourceRecord, to_utc
from saasync.reasons import Reason

from .mapping import (
    CreditRefunds,
    credit_refunds,
    is_credit_invoice,
    quarantined,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)

Item = SourceRecord | Quarantined
Raw = dict[str, Any]


class RecurlyApi:
    """GETs decoded with ``parse_float=Decimal``; lists followed through ``next``.

    ``HttpClient.get_json`` would decode ``12.34`` as a binary float and lose the exact
    amount, so pages are decoded here. Paging, pacing and retries stay in saasync.http.
    """

    def __init__(self, client: HttpClient, page_size: int) -> None:
        self.client = client
        self.page_size = page_size

    def request_json(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                     json: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """The JsonRequester that :func:`saasync.http.paginate` drives."""
        response = self.client.request(method, path_or_url, params=params, json=json,
                                       headers=headers)
        try:
            return _json.loads(response.content or b"null", parse_float=Decimal)
        except ValueError:
            text = self.client.secrets.mask(" ".join(response.text.split()))[:200]
            raise FatalError(f"{method} {path_or_url}: Recurly answered {response.status_code} "
                             f"with a body that is not JSON: {text!r}") from None

    def get(self, path: str) -> Raw:
        """One object; a 404 raises BadRecordError so the caller decides what it means."""
        found = self.request_json("GET", path)
        if not isinstance(found, dict):
            raise FatalError(f"GET {path}: expected a JSON object, got {type(found).__name__}")
        return found

    def list(self, path: str, params: Mapping[str, Any]) -> Iterator[Raw]:
        """Every item of a list endpoint. A malformed page stops the run: skipping it
        would silently lose records."""

        def items(page: Any) -> list[Raw]:
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
                shape = sorted(page) if isinstance(page, dict) else type(page).__name__
                raise FatalError(f"GET {path}: malformed list page (expected "
                                 f"{{object: 'list', has_more, next, data: [objects]}}, got {shape})")
            return data

        query = {**params, "limit": self.page_size}
        try:
            yield from paginate(self, "GET", path, NextLinkPaginator(), query, extract=items)
        except BadRecordError as exc:
            raise FatalError(f"{exc} (is base_url a Recurly v3 API host?)") from exc


def iso(moment: datetime, *, ceil: bool = False) -> str:
    """Recurly's ISO 8601 in whole seconds; ``ceil`` rounds up so an inclusive bound keeps
    everything before ``moment``."""
    moment = to_utc(moment)
    whole = moment.replace(microsecond=0)
    if ceil and whole < moment:
        whole += timedelta(seconds=1)
    return whole.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def changed_since(since: datetime | None) -> dict[str, Any]:
    params: dict[str, Any] = {"sort": "updated_at", "order": "asc"}
    if since is not None:
        params["begin_time"] = iso(since)
    return params


def _stamp(raw: Mapping[str, Any], name: str) -> datetime | None:
    try:
        value = to_utc(raw.get(name))
    except (ValueError, TypeError, OverflowError):
        return None
    return value if isinstance(value, datetime) else None


def _issued_in(raw: Mapping[str, Any], window: ReadWindow) -> bool:
    """Backfill bound ``[since, until)``; Recurly's ``end_time`` is inclusive."""
    issued = _stamp(raw, "created_at")
    if issued is None:
        return True
    since = to_utc(window.since) if window.since is not None else None
    until = to_utc(window.until) if window.until is not None else None
    return (since is None or issued >= since) and (until is None or issued < until)


class Windowed:
    """A list cut into time windows on its sort field, read ``concurrency`` at once and
    handed on in window order (``saasync.kit.windows``): ascending windows of an ascending
    list give what one list would, in its order. ``begin_time``/``end_time`` are inclusive
    and whole seconds: each window asks for both its edges and is cut exactly."""

    def __init__(self, api: RecurlyApi, concurrency: int = 1, now: datetime | None = None) -> None:
        self.api = api
        self.concurrency = concurrency
        self.now = now if now is not None else datetime.now(UTC)

    def _oldest(self, path: str, params: Mapping[str, Any]) -> datetime | None:
        page = self.api.request_json("GET", path, params={**params, "limit": 1})
        data = page.get("data") if isinstance(page, dict) else None
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        return _stamp(first, str(params["sort"]))

    def read(self, path: str, params: Mapping[str, Any], since: datetime | None,
             until: datetime | None, handle: Callable[[Raw], Item | None]) -> Iterator[Item]:
        """``handle(raw)`` (on the readers' threads; None: leave it out) for every object of
        every window, in window order; an object met again only when it changed since."""
        field = str(params["sort"])
        windows = plan_windows(since, until, self.now, lambda: self._oldest(path, params),
                               self.concurrency)
        bare = {k: v for k, v in params.items() if k not in ("begin_time", "end_time")}

        def one(window: Window) -> Iterator[tuple[str, datetime | None, Item]]:
            start, end = window
            query = dict(params) if len(windows) == 1 else {
                **bare, **({"begin_time": iso(start)} if start is not None else {}),
                **({"end_time": iso(end)} if end is not None else {})}
            for raw in self.api.list(path, query):
                stamp = _stamp(raw, field)
                if len(windows) > 1 and stamp is not None and not contains(window, stamp):
                    continue
                item = handle(raw)
                if item is not None:
                    yield str(raw.get("id")), stamp, item

        newest: dict[str, datetime | None] = {}
        for key, stamp, item in read_in_order(windows, one, self.concurrency):
            if key in newest and (stamp is None or (newest[key] or stamp) >= stamp):
                continue  # met again in a later window, unchanged
            newest[key] = stamp
            yield item


class _ListStream:
    """A list endpoint whose objects map one-to-one onto records."""

    kind: ClassVar[str]
    path: ClassVar[str]
    build: ClassVar[Callable[[Mapping[str, Any]], SourceRecord]]

    def read(self, api: RecurlyApi, window: ReadWindow,
             windowed: Windowed | None = None) -> Iterator[Item]:
        """Incremental: changed since ``since``. Backfill: all of them (invoices may refer
        to any)."""
        since = window.since if window.mode == "incremental" else None
        build = type(self).build

        def one(raw: Raw) -> Item:
            try:
                return build(raw)
            except MappingError as exc:
                return quarantined(self.kind, raw, exc)

        yield from (windowed or Windowed(api)).read(self.path, changed_since(since), since,
                                                    None, one)


class PlansStream(_ListStream):
    kind, path, build = "plan", "/plans", to_plan


class AccountsStream(_ListStream):
    kind, path, build = "customer", "/accounts", to_customer


class SubscriptionsStream(_ListStream):
    kind, path, build = "subscription", "/subscriptions", to_subscription


class CreditInvoicesStream:
    """Every refunding credit invoice of the site, by the invoice it refunds.

    Read in full on each run (credit invoices are few): a charge invoice must always
    travel with all of its refunds, since the destination replaces it whole.
    """

    path = "/invoices"

    def read(self, api: RecurlyApi) -> dict[str, list[CreditRefunds]]:
        found: dict[str, list[CreditRefunds]] = {}
        params = {"type": "credit", "sort": "updated_at", "order": "asc"}
        for raw in api.list(self.path, params):
            refund = credit_refunds(raw)
            if refund is not None:
                found.setdefault(refund.original_invoice_id, []).append(refund)
        return found


class InvoicesStream:
    """Charge and legacy invoices, with their payments and the refunds made on them.

    Credit invoices are not records of their own: they become refund transactions on
    the invoice named by ``previous_invoice_id``. When such a refund changed inside an
    incremental window and its charge invoice did not, the charge invoice is fetched by
    id and sent again, so the refund reaches the destination.
    """

    path = "/invoices"

    def read(self, api: RecurlyApi, window: ReadWindow,
             windowed: Windowed | None = None) -> Iterator[Item]:
        refunds = CreditInvoicesStream().read(api)
        seen: set[str] = set()

        def one(raw: Raw) -> Item | None:
            if is_credit_invoice(raw):
                return None
            if window.mode == "backfill" and not _issued_in(raw, window):
                return None
            seen.add(str(raw.get("id")))  # what the refund pass must not read again
            return self._invoice(api, raw, refunds)

        backfill = window.mode == "backfill"
        since = to_utc(window.since) if window.since is not None else None
        until = to_utc(window.until) if backfill and window.until is not None else None
        yield from (windowed or Windowed(api)).read(self.path, self._params(window), since,
                                                      until, one)
        if window.mode == "incremental":
            yield from self._refunded_elsewhere(api, window, refunds, seen)

    def _params(self, window: ReadWindow) -> dict[str, Any]:
        if window.mode == "incremental":
            return changed_since(window.since)
        params: dict[str, Any] = {"sort": "created_at", "order": "asc"}
        if window.since is not None:
            params["begin_time"] = iso(window.since)
        if window.until is not None:
            params["end_time"] = iso(window.until, ceil=True)
        return params

    def _invoice(self, api: RecurlyApi, raw: Raw,
                 refunds: Mapping[str, list[CreditRefunds]]) -> Item:
        inv_id = str(raw.get("id") or "")
        if raw.get("has_more_line_items") is True and inv_id:
            lines = list(api.list(f"{self.path}/{quote(inv_id, safe='')}/line_items", {}))
            raw = {**raw, "line_items": lines, "has_more_line_items": False}
        try:
            return to_invoice(raw, refunds.get(inv_id, ()))
        except MappingError as exc:
            return quarantined("invoice", raw, exc)

    def _refunded_elsewhere(self, api: RecurlyApi, window: ReadWindow,
                            refunds: Mapping[str, list[CreditRefunds]],
                            seen: set[str]) -> Iterator[Item]:
        since = to_utc(window.since) if window.since is not None else None
        for original, credits in sorted(refunds.items()):
            changed = [c for c in credits
                       if since is None or c.updated_at is None or c.updated_at >= since]
            if original in seen or not changed:
                continue
            try:
                raw = api.get(f"{self.path}/{quote(original, safe='')}")
            except BadRecordError as exc:
                refunded_by = ", ".join(repr(c.credit_invoice_id) for c in changed)
                yield Quarantined(
                    "invoice", original, Reason.INVALID_RECORD,
                    f"invoice {original!r}: field 'id': refunded by credit invoice {refunded_by}, "
                    f"but Recurly does not return it: {exc}", "id", None,
                    {"id": original, "refunded_by": [c.credit_invoice_id for c in changed]})
                continue
            if not is_credit_invoice(raw):
                yield self._invoice(api, raw, refunds)
