"""Xero reads, one small class per stream: contacts, repeating-invoice templates, invoices.

Lists are paged with ``page=1, 2, …`` (100 per page unless ``pageSize`` says otherwise)
and end at ``pagination.pageCount`` or, when Xero leaves that out, at a short page.
Changes come from the ``If-Modified-Since`` header (see BEHAVIOR.md for its gaps).
Pages are ordered by the immutable id rather than by update time: with page-number
paging, a record updated during the read would move to the end and push an unread one
onto a page already read; by id, an update moves nothing and an insert only repeats a
record, which is dropped here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import FatalError
from saasync.http import PageNumberPaginator, dig, key_path, paginate
from saasync.http.pagination import JsonRequester
from saasync.kit.records import MappingError, json_safe, quarantine
from saasync.models import Customer, Invoice

from ..accounting.items import ItemRules
from .mapping import (
    SCHEDULE_UNITS,
    RepeatingPlans,
    summary,
    to_customer,
    to_invoice,
)


def modified_since(since: datetime) -> str:
    """``If-Modified-Since`` as Xero reads it (UTC, whole seconds), one second early: Xero
    does not say whether a record changed exactly then is included."""
    return (since.astimezone(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")


def first_day_from(when: datetime) -> date:
    """The first date whose midnight (UTC) is at or after ``when`` (invoice ``Date`` is a day)."""
    utc = when.astimezone(UTC)
    day = utc.date()
    return day if utc == datetime.combine(day, time(), tzinfo=UTC) else day + timedelta(days=1)


def date_literal(day: date) -> str:
    return f"DateTime({day.year}, {day.month:02d}, {day.day:02d})"


class XeroPaginator(PageNumberPaginator):
    """``page=N``: stop at ``pagination.pageCount`` when Xero gives it, else at a short page."""

    def next_params(self, page: Any) -> dict[str, Any] | None:
        info = dig(page, "pagination")
        if isinstance(info, Mapping) and isinstance(info.get("pageCount"), int) and \
                isinstance(info.get("page"), int):
            if info["page"] >= info["pageCount"]:
                return None
            self._page += 1
            return {self.page_param: self._page}
        return super().next_params(page)


class _WithHeaders:
    """A JsonRequester that adds fixed headers (``If-Modified-Since``) to every page."""

    def __init__(self, requester: JsonRequester, headers: Mapping[str, str]) -> None:
        self.requester = requester
        self.headers = dict(headers)

    def request_json(self, method: str, path_or_url: str, *,
                     params: Mapping[str, Any] | None = None, json: Any = None,
                     headers: Mapping[str, str] | None = None) -> Any:
        return self.requester.request_json(method, path_or_url, params=params, json=json,
                                           headers={**self.headers, **(headers or {})})


class XeroApi:
    """One organisation (tenant): the tenant header is on the client."""

    def __init__(self, requester: JsonRequester, page_size: int) -> None:
        self.requester = requester
        self.page_size = page_size

    @staticmethod
    def _items(body: Any, key: str, path: str) -> list[dict[str, Any]]:
        items = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise FatalError(f"Xero answered GET {path} without a list under {key!r}; stopping "
                             "rather than skipping records")
        return items

    def pages(self, path: str, key: str, params: Mapping[str, Any],
              since: datetime | None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, optionally changed since ``since``."""
        requester: JsonRequester = self.requester
        if since is not None:
            requester = _WithHeaders(requester, {"If-Modified-Since": modified_since(since)})
        paginator = XeroPaginator(key_path(key), page_size=self.page_size)
        yield from paginate(requester, "GET", path, paginator, params,
                            extract=lambda body: self._items(body, key, path))

    def get_all(self, path: str, key: str) -> list[dict[str, Any]]:
        """An unpaged list (``RepeatingInvoices``)."""
        return self._items(self.requester.request_json("GET", path), key, path)


class ContactsStream:
    """Contacts that are customers (``IsCustomer``: they have sales invoices), archived ones
    included, since their invoices still name them."""

    def read(self, api: XeroApi, window: ReadWindow) -> Iterator[Customer | Quarantined]:
        since = window.since if window.mode == "incremental" else None
        params = {"where": "IsCustomer==true", "includeArchived": "true",
                  "order": "ContactID ASC"}
        seen: set[str] = set()
        for raw in api.pages("Contacts", "Contacts", params, since):
            ext_id = str(raw.get("ContactID") or "")
            if ext_id in seen:
                continue
            seen.add(ext_id)
            try:
                yield to_customer(raw)
            except MappingError as exc:
                yield quarantine("customer", exc, json_safe({
                    "name": raw.get("Name"), "updated_at": raw.get("UpdatedDateUTC")}),
                    external_id=ext_id or None)


class RepeatingInvoicesStream:
    """Sales templates' schedules, by template id: ``{id: (unit, count)}``."""

    def read(self, api: XeroApi) -> tuple[dict[str, tuple[str, int]], list[dict[str, Any]]]:
        schedules: dict[str, tuple[str, int]] = {}
        templates = [t for t in api.get_all("RepeatingInvoices", "RepeatingInvoices")
                     if t.get("Type") == "ACCREC"]
        for template in templates:
            schedule = template.get("Schedule") or {}
            unit = SCHEDULE_UNITS.get(str(schedule.get("Unit")))
            period = schedule.get("Period")
            if unit and isinstance(period, int) and not isinstance(period, bool) and period >= 1:
                schedules[str(template.get("RepeatingInvoiceID"))] = (unit, period)
        return schedules, templates


def register_template_plans(templates: list[dict[str, Any]], rules: ItemRules,
                            repeating: RepeatingPlans) -> None:
    """Plans for the unmapped codes of every template, so they are yielded before invoices."""
    for template in templates:
        template_id = str(template.get("RepeatingInvoiceID"))
        for line in template.get("LineItems") or []:
            codes = [str(c) for c in (line.get("ItemCode"), line.get("AccountCode")) if c]
            if codes and rules.classify(codes) is None:
                repeating.plan_for(codes[0], template_id)


class InvoicesStream:
    """Sales invoices only (``Type=="ACCREC"``; bills are ACCPAY). incremental:
    ``If-Modified-Since``; backfill: ``Date`` in the window."""

    def __init__(self, rules: ItemRules, repeating: RepeatingPlans, *, day_first: bool) -> None:
        self.rules = rules
        self.repeating = repeating
        self.day_first = day_first

    @staticmethod
    def params(window: ReadWindow) -> dict[str, Any]:
        where = ['Type=="ACCREC"']
        if window.mode == "backfill":
            if window.since is not None:
                where.append(f"Date >= {date_literal(first_day_from(window.since))}")
            if window.until is not None:
                where.append(f"Date < {date_literal(first_day_from(window.until))}")
        return {"where": " AND ".join(where), "order": "InvoiceID ASC"}

    def read(self, api: XeroApi, window: ReadWindow) -> Iterator[Invoice | Quarantined]:
        since = window.since if window.mode == "incremental" else None
        seen: set[str] = set()
        for raw in api.pages("Invoices", "Invoices", self.params(window), since):
            ext_id = str(raw.get("InvoiceID") or "")
            if ext_id in seen or raw.get("Type") != "ACCREC":
                continue
            seen.add(ext_id)
            try:
                yield to_invoice(raw, self.rules, self.repeating, day_first=self.day_first)
            except MappingError as exc:
                yield quarantine("invoice", exc, json_safe(summary(raw)), external_id=ext_id or None)
