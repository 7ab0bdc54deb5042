"""QuickBooks Online reads, one small class per stream, all through the query endpoint.

Every list is ``select * from <Entity> [where …] orderby Id STARTPOSITION n MAXRESULTS m``
(1-based offsets, at most 1000 per page, a short page ends the list). ``orderby Id``
rather than by update time: with offset paging, a record updated during the read would
move to the end and push an unread one back onto a page already read, losing it; Ids
never change, so an update mid-read costs nothing and an insert only repeats a record,
which is dropped here by id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import FatalError
from saasync.http import StartPositionPaginator, key_path, paginate
from saasync.http.pagination import JsonRequester
from saasync.kit.records import MappingError, json_safe, quarantine
from saasync.models import Customer, Invoice

from ..accounting.items import ItemRules
from .mapping import (
    linked_payment_ids,
    summary,
    to_customer,
    to_invoice,
)

T = TypeVar("T")
#: Minor versions 1-74 are deprecated since August 2025 (Intuit).
MINOR_VERSION = 75
#: Ids per ``Id IN (…)`` payment lookup: keeps the query string short.
PAYMENT_LOOKUP_CHUNK = 100


def fault_text(page: Any) -> str | None:
    """QBO's ``Fault`` (``fault`` from the gateway) as one line: type, message, detail."""
    if not isinstance(page, Mapping):
        return None
    fault = page.get("Fault") or page.get("fault")
    if not isinstance(fault, Mapping):
        return None
    errors = fault.get("Error") or fault.get("error") or []
    parts = [str(fault.get("type"))] if fault.get("type") else []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, Mapping):
            for key in ("Message", "message", "Detail", "detail", "code"):
                if error.get(key):
                    parts.append(f"{key.lower()}={error[key]}")
    return "; ".join(parts) or None


def qbo_time(when: datetime) -> str:
    """A query literal for ``MetaData.LastUpdatedTime``, floored to QBO's whole seconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def first_day_from(when: datetime) -> date:
    """The first date whose midnight (UTC) is at or after ``when``: ``TxnDate`` is a date,
    read as midnight UTC, so ``issued_at >= when`` is ``TxnDate >= first_day_from(when)``."""
    utc = when.astimezone(UTC)
    day = utc.date()
    return day if utc == datetime.combine(day, time(), tzinfo=UTC) else day + timedelta(days=1)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksApi:
    """The query endpoint of one company (realm), paged."""

    def __init__(self, requester: JsonRequester, page_size: int) -> None:
        self.requester = requester
        self.page_size = page_size

    def query(self, statement: str) -> Iterator[dict[str, Any]]:
        """Every entity the statement selects, page after page."""
        found = re.search(r"\bfrom\s+(\w+)", statement, re.IGNORECASE)
        assert found is not None, statement
        entity = found.group(1)
        paginator = StartPositionPaginator(statement, key_path("QueryResponse", entity),
                                           page_size=self.page_size)

        def extract(page: Any) -> list[dict[str, Any]]:
            response = page.get("QueryResponse") if isinstance(page, Mapping) else None
            if not isinstance(response, Mapping):
                fault = fault_text(page)
                raise FatalError(
                    f"QuickBooks answered a query page without QueryResponse"
                    f"{': ' + fault if fault else ''} (query: {statement}); stopping rather than "
                    "skipping records")
            items = response.get(entity, [])  # QBO leaves the key out when nothing matched
            if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
                raise FatalError(f"QuickBooks query page: QueryResponse.{entity} is not a list "
                                 f"of objects (query: {statement})")
            return items

        yield from paginate(self.requester, "GET", "query", paginator,
                            {"minorversion": MINOR_VERSION}, extract=extract)


class CustomersStream:
    """``Customer``, inactive ones included: QBO hides them unless asked (``Active IN``),
    and invoices of a customer made inactive still name it."""

    def statement(self, window: ReadWindow) -> str:
        where = ["Active IN (true, false)"]
        if window.mode == "incremental" and window.since is not None:
            where.append(f"MetaData.LastUpdatedTime >= '{qbo_time(window.since)}'")
        return f"select * from Customer where {' and '.join(where)} orderby Id"

    def read(self, api: QuickBooksApi, window: ReadWindow) -> Iterator[Customer | Quarantined]:
        seen: set[str] = set()
        for raw in api.query(self.statement(window)):
            ext_id = str(raw.get("Id") or "")
            if ext_id in seen:
                continue
            seen.add(ext_id)
            try:
                yield to_customer(raw)
            except MappingError as exc:
                yield quarantine("customer", exc, json_safe({
                    "name": raw.get("DisplayName"),
                    "updated_at": (raw.get("MetaData") or {}).get("LastUpdatedTime")}),
                    external_id=ext_id or None)


class InvoicesStream:
    """``Invoice`` with its Payments (looked up by the ids in ``LinkedTxn``, page by page).

    incremental: ``MetaData.LastUpdatedTime >= since`` (applying a payment or voiding
    updates it); backfill: ``TxnDate`` in the window.
    """

    def __init__(self, rules: ItemRules, *, day_first: bool, home_currency: str | None) -> None:
        self.rules = rules
        self.day_first = day_first
        self.home_currency = home_currency

    def statement(self, window: ReadWindow) -> str:
        where: list[str] = []
        if window.mode == "backfill":
            if window.since is not None:
                where.append(f"TxnDate >= '{first_day_from(window.since).isoformat()}'")
            if window.until is not None:
                where.append(f"TxnDate < '{first_day_from(window.until).isoformat()}'")
        elif window.since is not None:
            where.append(f"MetaData.LastUpdatedTime >= '{qbo_time(window.since)}'")
        clause = f" where {' and '.join(where)}" if where else ""
        return f"select * from Invoice{clause} orderby Id"

    def read(self, api: QuickBooksApi, window: ReadWindow) -> Iterator[Invoice | Quarantined]:
        seen: set[str] = set()
        for page in chunks(api.query(self.statement(window)), api.page_size):
            fresh = [raw for raw in page if str(raw.get("Id")) not in seen]
            seen.update(str(raw.get("Id")) for raw in fresh)
            payments = self.payments(api, {pid for raw in fresh
                                           for pid in linked_payment_ids(raw)})
            for raw in fresh:
                linked = [payments[pid] for pid in linked_payment_ids(raw) if pid in payments]
                try:
                    yield to_invoice(raw, linked, self.rules, day_first=self.day_first,
                                     home_currency=self.home_currency)
                except MappingError as exc:
                    yield quarantine("invoice", exc, json_safe(summary(raw)),
                                     external_id=str(raw.get("Id") or "") or None)

    def payments(self, api: QuickBooksApi, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The Payments with these ids (a payment deleted since is simply absent)."""
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(sorted(ids, key=lambda i: (len(i), i)), PAYMENT_LOOKUP_CHUNK):
            statement = (f"select * from Payment where Id IN ({', '.join(map(_quoted, batch))}) "
                         "orderby Id")
            for raw in api.query(statement):
                found[str(raw.get("Id"))] = raw
        return found
