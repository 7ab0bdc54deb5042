"""One small class per Chargebee list: what to ask for, for which window, and what it yields.

Every list is paged the Chargebee way (``next_offset`` sent back as ``offset``) through
:class:`ChargebeeApi`, which also refuses malformed pages. Streams turn raw objects into
records with ``mapping``; a record that cannot be mapped becomes ``Quarantined`` and the
run goes on.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import FatalError
from saasync.http import HttpClient, OffsetTokenPaginator, paginate
from saasync.kit.records import MappingError, quarantine
from saasync.models import Plan, SourceRecord

from .mapping import (
    Periods,
    Raw,
    is_one_time_catalog_entry,
    review_keys,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)
from .windowed import Item, Seen, Windowed, after, stamp_of

#: Chargebee's documented maximum for ``limit``; also used to chunk ``[in]`` filters.
MAX_PAGE = 100
_LINE_ITEM_KEYS = ("line_items", "line_item_discounts", "line_item_taxes", "line_item_tiers")


class ChargebeeApi:
    """The read-only slice of the API the streams use: paged lists and single retrieves."""

    def __init__(self, client: HttpClient, page_size: int = MAX_PAGE) -> None:
        self.client = client
        self.page_size = page_size

    def pages(self, path: str, resource: str, params: Mapping[str, Any], *,
              limit: int | None = None) -> Iterator[list[Raw]]:
        """Each page of ``GET path`` as a list of the ``resource`` objects it holds."""
        paginator = OffsetTokenPaginator(page_size=limit or self.page_size)
        yield from paginate(self.client, "GET", path, paginator, params,
                            extract=lambda page: [self._entries(page, path, resource)])

    def objects(self, path: str, resource: str, params: Mapping[str, Any]) -> Iterator[Raw]:
        for page in self.pages(path, resource, params):
            yield from page

    def retrieve(self, path: str, resource: str, params: Mapping[str, Any]) -> Raw:
        body = self.client.get_json(path, params=params)
        found = body.get(resource) if isinstance(body, Mapping) else None
        if not isinstance(found, Mapping):
            raise FatalError(f"GET {path}: malformed response: no {resource!r} object in it")
        return found

    @staticmethod
    def _entries(page: Any, path: str, resource: str) -> list[Raw]:
        """A list page is ``{"list": [{resource: {...}, ...}, ...], "next_offset": ...}``."""
        entries = page.get("list") if isinstance(page, Mapping) else None
        if not isinstance(entries, list):
            raise FatalError(f"GET {path}: malformed page: expected an object with a 'list' "
                             f"array, got {_shape(page)}; stopping rather than skipping it")
        out: list[Raw] = []
        for index, entry in enumerate(entries):
            obj = entry.get(resource) if isinstance(entry, Mapping) else None
            if not isinstance(obj, Mapping):
                raise FatalError(f"GET {path}: malformed page: list[{index}] has no {resource!r} "
                                 "object; stopping rather than skipping it")
            out.append(obj)
        return out


def _shape(page: Any) -> str:
    if isinstance(page, Mapping):
        return "an object with keys " + ", ".join(sorted(map(str, page))[:8])
    return type(page).__name__


def id_list(ids: Iterable[str]) -> str:
    """The ``[in]`` operand: a JSON array, ``["a","b"]``."""
    return json.dumps(list(ids), separators=(",", ":"))


def chunks(ids: Sequence[str], size: int = MAX_PAGE) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def changed_params(window: ReadWindow, sort: str | None = "updated_at") -> dict[str, Any]:
    """Incremental filter (or none): deleted records too, oldest change first."""
    params: dict[str, Any] = {"include_deleted": "true"}
    if sort:
        params["sort_by[asc]"] = sort
    if window.mode == "incremental" and window.since is not None:
        params["updated_at[after]"] = after(window.since)
    return params


def quarantined(kind: str, raw: Raw, exc: MappingError) -> Quarantined:
    """The review-queue entry: the object's own id, an invoice with its review keys."""
    ext_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    review = {**raw, **review_keys(raw)} if kind == "invoice" else raw
    return quarantine(kind, exc, review, external_id=ext_id)


def _map(kind: str, raw: Raw, build: Callable[[Raw], SourceRecord]) -> Item:
    try:
        return build(raw)
    except MappingError as exc:
        return quarantined(kind, raw, exc)


class SimpleStream:
    """A list whose objects map one to one onto records (customers, subscriptions)."""

    kind = ""
    path = ""
    resource = ""

    def __init__(self, api: ChargebeeApi, windowed: Windowed | None = None) -> None:
        self.api = api
        self.windowed = windowed or Windowed(api, 1, datetime.now(UTC))

    def build(self, raw: Raw) -> SourceRecord:
        raise NotImplementedError

    def read(self, window: ReadWindow) -> Iterator[Item]:
        params = changed_params(window)
        since = window.since if window.mode == "incremental" else None
        windows = self.windowed.windows(self.path, self.resource, params, "updated_at",
                                        since, None)

        def handle(page: list[Raw]) -> Iterator[tuple[str, int, Item]]:
            for raw in page:
                yield str(raw.get("id")), stamp_of(raw), _map(self.kind, raw, self.build)

        yield from self.windowed.read(self.path, self.resource, params, "updated_at", windows,
                                      handle)


class CustomersStream(SimpleStream):
    kind, path, resource = "customer", "/customers", "customer"

    def build(self, raw: Raw) -> SourceRecord:
        return to_customer(raw)


class SubscriptionsStream(SimpleStream):
    kind, path, resource = "subscription", "/subscriptions", "subscription"

    def build(self, raw: Raw) -> SourceRecord:
        return to_subscription(raw)


class PlansStream:
    """Plans: item prices of type plan and addon (Product Catalog 2.0), or v1 plans and
    recurring addons (1.0). All are read on every run, because invoice lines need every
    plan's period to tell a prorated line, and every one-time addon's id to tell a one-time
    line (``one_time``); only changed plans are yielded incrementally."""

    def __init__(self, api: ChargebeeApi, catalog: str) -> None:
        self.api = api
        self.catalog = catalog
        self.periods: dict[str, tuple[str, int]] = {}
        self.one_time: set[str] = set()

    def _sources(self) -> Iterator[Raw]:
        if self.catalog == "2.0":
            params = {"item_type[in]": id_list(["plan", "addon"]), "sort_by[asc]": "updated_at"}
            entries = self.api.objects("/item_prices", "item_price", params)
        else:
            entries = itertools.chain(
                self.api.objects("/plans", "plan", {"include_deleted": "true"}),
                self.api.objects("/addons", "addon", {"include_deleted": "true"}))
        for raw in entries:
            if is_one_time_catalog_entry(raw):  # one-time addons / charges are not plans
                self.one_time.add(str(raw.get("id")))
            else:
                yield raw

    def read(self, window: ReadWindow) -> Iterator[Item]:
        since = window.since if window.mode == "incremental" else None
        seen = Seen()
        for raw in self._sources():
            if not seen.fresh(raw):
                continue
            item = _map("plan", raw, to_plan)
            if isinstance(item, Plan):
                self.periods[item.external_id] = (item.interval_unit, item.interval_count)
            stamp = raw.get("updated_at")
            if since is None or not isinstance(stamp, int) or stamp >= math.floor(since.timestamp()):
                yield item


class InvoicesStream:
    """Invoices changed since (incremental) or issued in ``[since, until)`` (backfill), each
    with its full line list and the refunds of the credit notes issued against it.

    Incrementally, credit notes changed since are read too: an invoice whose credit note
    was refunded is read again even if the invoice itself did not change.
    """

    def __init__(self, api: ChargebeeApi, periods: Periods,
                 one_time: Collection[str] = frozenset(), windowed: Windowed | None = None) -> None:
        self.api = api
        self.periods = periods
        self.one_time = one_time
        self.windowed = windowed or Windowed(api, 1, datetime.now(UTC))

    def read(self, window: ReadWindow) -> Iterator[Item]:
        seen = Seen()
        params = self._params(window)
        backfill = window.mode == "backfill"
        field = "date" if backfill else "updated_at"
        since = window.since if backfill or window.mode == "incremental" else None
        windows = self.windowed.windows("/invoices", "invoice", params, field, since,
                                        window.until if backfill else None)

        def handle(page: list[Raw]) -> Iterator[tuple[str, int, Item]]:
            kept = [raw for raw in page if in_backfill(raw, window)]
            for raw, item in zip(kept, self._page(kept, window, Seen()), strict=True):
                yield str(raw.get("id")), stamp_of(raw), item

        yield from self.windowed.read("/invoices", "invoice", params, field, windows, handle,
                                      seen=seen)  # seen: what the refund pass must not read
        if window.mode == "incremental" and window.since is not None:
            yield from self._refunded_since(window, seen)

    def _params(self, window: ReadWindow) -> dict[str, Any]:
        if window.mode == "incremental":
            return changed_params(window)
        params: dict[str, Any] = {"include_deleted": "true", "sort_by[asc]": "date"}
        since, until = window.since, window.until
        # The operators' edge semantics are not documented: ask a second wider, cut exactly.
        if since is not None and until is not None:
            params["date[between]"] = f"[{after(since)},{math.ceil(until.timestamp())}]"
        elif since is not None:
            params["date[after]"] = after(since)
        elif until is not None:
            params["date[before]"] = str(math.ceil(until.timestamp()))
        return params

    def _page(self, page: list[Raw], window: ReadWindow, seen: Seen) -> Iterator[Item]:
        fresh = [raw for raw in page if in_backfill(raw, window) and seen.fresh(raw)]
        notes = self._credit_notes([raw for raw in fresh if raw.get("issued_credit_notes")])
        for raw in fresh:
            full = self._complete_lines(raw)
            try:
                yield to_invoice(full, notes.get(str(raw.get("id")), ()), self.periods,
                                 self.one_time)
            except MappingError as exc:
                yield quarantined("invoice", full, exc)

    def _credit_notes(self, invoices: Sequence[Raw]) -> dict[str, list[Raw]]:
        """Refundable credit notes of these invoices, by invoice id (one list call per 100)."""
        by_invoice: dict[str, list[Raw]] = {}
        ids = [str(raw.get("id")) for raw in invoices]
        for group in chunks(ids):
            params = {"reference_invoice_id[in]": id_list(group), "sort_by[asc]": "date"}
            for note in self.api.objects("/credit_notes", "credit_note", params):
                by_invoice.setdefault(str(note.get("reference_invoice_id")), []).append(note)
        return by_invoice

    def _complete_lines(self, raw: Raw) -> Raw:
        """Invoices with many lines come truncated, with ``line_items_next_offset``."""
        token = raw.get("line_items_next_offset")
        if not token:
            return raw
        full = {**raw, **{key: list(raw.get(key) or []) for key in _LINE_ITEM_KEYS}}
        seen_tokens: set[str] = set()
        while token:
            if str(token) in seen_tokens:
                raise FatalError(f"GET /invoices/{raw.get('id')}: line_items_next_offset "
                                 f"{str(token)[:40]!r} repeated; stopping rather than looping")
            seen_tokens.add(str(token))
            more = self.api.retrieve(f"/invoices/{raw.get('id')}", "invoice",
                                     {"line_items_limit": 300, "line_items_offset": token})
            for key in _LINE_ITEM_KEYS:
                full[key].extend(more.get(key) or [])
            token = more.get("line_items_next_offset")
        full.pop("line_items_next_offset", None)
        return full

    def _refunded_since(self, window: ReadWindow, seen: Seen) -> Iterator[Item]:
        params = changed_params(window, sort="date")
        referenced = {str(note.get("reference_invoice_id"))
                      for note in self.api.objects("/credit_notes", "credit_note", params)}
        missing = sorted(i for i in referenced if i not in seen and i != "None")
        for group in chunks(missing):
            params = {"id[in]": id_list(group), "include_deleted": "true"}
            for page in self.api.pages("/invoices", "invoice", params):
                yield from self._page(page, ReadWindow(), seen)


def in_backfill(raw: Raw, window: ReadWindow) -> bool:
    """Cut the server's answer exactly to ``[since, until)`` on the invoice date."""
    if window.mode != "backfill":
        return True
    issued = raw.get("date")
    if not isinstance(issued, int):
        return True  # let mapping quarantine it rather than dropping it silently
    since, until = window.since, window.until
    return (since is None or issued >= since.timestamp()) and (
        until is None or issued < until.timestamp())
