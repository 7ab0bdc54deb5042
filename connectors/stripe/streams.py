"""Stripe's list and retrieve calls: one small class per stream, plus the event feed of changes.

Every list is paged with ``starting_after`` (the last id of a page) while ``has_more`` is
true; a page that is not a Stripe list object stops the run with a FatalError. Streams
turn Stripe objects into records through ``mapping`` and a record that cannot be mapped
into a ``Quarantined`` one; they never sleep or retry (the HTTP layer does).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import structlog

from saasync.connector import Quarantined
from saasync.errors import BadRecordError, FatalError
from saasync.http import CursorPaginator, HttpClient, paginate
from saasync.kit.records import known_id, quarantine
from saasync.kit.windows import read_in_order
from saasync.models import RecordError, SourceRecord

from . import mapping
from .mapping import Raw, epoch, ref

log = structlog.get_logger("saasync.connectors.stripe")
Item = SourceRecord | Quarantined
Created = tuple[datetime | None, datetime | None]  # [gte, lt); None: unbounded

# ``types[]`` takes exact event names (wildcards only work in the single ``type``), at
# most 20: every event that can change a field we read, grouped by what it touches.
EVENT_TYPES: tuple[str, ...] = (
    "invoice.created", "invoice.deleted", "invoice.finalized", "invoice.marked_uncollectible",
    "invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded", "invoice.updated",
    "invoice.voided",
    "credit_note.created", "credit_note.updated", "credit_note.voided",
    "customer.created", "customer.updated", "customer.deleted",
    "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "customer.subscription.paused",
    "customer.subscription.resumed",
)  # fmt: skip
# What an event's ``data.object.object`` says changed: (record kind, field with its id).
_EVENT_TARGETS = {
    "invoice": ("invoice", "id"),
    "credit_note": ("invoice", "invoice"),
    "customer": ("customer", "id"),
    "subscription": ("subscription", "id"),
}


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


class StripeApi:
    """The two call shapes every stream uses: page through a list, retrieve one object."""

    def __init__(self, client: HttpClient, page_size: int) -> None:
        self.client = client
        self.page_size = page_size

    def list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Raw]:
        def items(page: Any) -> list[Raw]:
            data = page.get("data") if isinstance(page, Mapping) else None
            if not isinstance(data, list) or not isinstance(page.get("has_more"), bool):
                raise FatalError(f"GET {path}: malformed list page: expected an object with a "
                                 f"'data' list and a boolean 'has_more', got {_preview(page)}")
            for item in data:
                if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                    raise FatalError(f"GET {path}: malformed list page: an item without an "
                                     f"id: {_preview(item)}")
            return data

        paginator = CursorPaginator.starting_after(page_size=self.page_size)
        try:
            yield from paginate(self.client, "GET", path, paginator, params, extract=items)
        except BadRecordError as exc:  # a refused list call is no bad record: stop the run
            raise FatalError(f"GET {path} was refused: {exc}") from exc

    def has_before(self, moment: datetime) -> bool:
        """Whether any customer was created before ``moment`` (one object asked for)."""
        page = self.client.get_json("/v1/customers", params={
            "limit": 1, "created[lt]": int(moment.timestamp())})
        return bool(isinstance(page, Mapping) and page.get("data"))

    def retrieve(self, path: str) -> Raw | None:
        """One object; None when Stripe no longer has it (404: deleted since the event)."""
        try:
            found = self.client.get_json(path)
        except BadRecordError as exc:
            if exc.status == 404:
                return None
            raise FatalError(f"GET {path} was refused: {exc}") from exc
        if not isinstance(found, Mapping) or not isinstance(found.get("id"), str):
            raise FatalError(f"GET {path}: malformed object: {_preview(found)}")
        return found


def created_params(created: Created) -> dict[str, int]:
    """Stripe's ``created`` range filter; bounds are whole Unix seconds, half-open."""
    start, end = created
    params: dict[str, int] = {}
    if start is not None:
        params["created[gte]"] = int(start.timestamp())  # floor: never skip the boundary second
    if end is not None:
        stamp = end.timestamp()
        params["created[lt]"] = int(stamp) if stamp == int(stamp) else int(stamp) + 1
    return params


def quarantined(kind: str, raw: Raw, exc: RecordError) -> Quarantined:
    """The review-queue entry (the id the error names, else the object's)."""
    return quarantine(kind, exc, raw, external_id=known_id(exc.external_id) or ref(raw.get("id")))


@dataclass
class Changes:
    """What the event feed says changed: per kind, each id and its newest event's time."""

    stamps: dict[str, dict[str, datetime]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)

    def add(self, kind: str, ext_id: str, when: datetime, deleted: bool) -> None:
        seen = self.stamps.setdefault(kind, {})
        if ext_id not in seen or when > seen[ext_id]:
            seen[ext_id] = when
        if deleted:
            self.deleted.add((kind, ext_id))

    def stamp(self, kind: str, ext_id: str | None) -> datetime | None:
        return self.stamps.get(kind, {}).get(ext_id or "")

    def changed(self, kind: str) -> list[str]:
        """Ids to re-read, oldest change first; objects deleted since are left out."""
        stamps = self.stamps.get(kind, {})
        return [i for i in sorted(stamps, key=lambda i: (stamps[i], i))
                if (kind, i) not in self.deleted]


class EventsStream:
    """``GET /v1/events``: what changed at or after ``since`` (Stripe keeps 30 days)."""

    path = "/v1/events"

    def __init__(self, api: StripeApi) -> None:
        self.api = api

    def changes(self, since: datetime | None) -> Changes:
        found = Changes()
        params: dict[str, Any] = {"types[]": list(EVENT_TYPES)}
        params.update(created_params((since, None)))
        for event in self.api.list(self.path, params):
            obj = event.get("data", {}).get("object") if isinstance(event.get("data"), Mapping) else None
            when = epoch(event.get("created"))
            if not isinstance(obj, Mapping) or not isinstance(when, datetime):
                raise FatalError(f"GET {self.path}: malformed event {event.get('id')!r}: no "
                                 "data.object or created")
            target = _EVENT_TARGETS.get(str(obj.get("object")))
            ext_id = ref(obj.get(target[1])) if target else None
            if target is not None and ext_id is not None:
                deleted = str(event.get("type")) in ("invoice.deleted", "customer.deleted")
                found.add(target[0], ext_id, when, deleted)
        return found


class _Stream:
    """A stream of one object kind: listed by ``created``, and re-read by id when changed."""

    kind = ""
    path = ""
    params: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, api: StripeApi) -> None:
        self.api = api

    def build(self, raw: Raw, changes: Changes) -> SourceRecord:
        raise NotImplementedError

    def item(self, raw: Raw, changes: Changes) -> Item:
        try:
            return self.build(raw, changes)
        except RecordError as exc:
            return quarantined(self.kind, raw, exc)

    def read(self, windows: Sequence[Created], changes: Changes, *, refetch: bool = False,
             concurrency: int = 1) -> Iterator[Item]:
        """Objects created in each window in turn, then, with ``refetch``, every object the
        events name that the windows did not return (changed, but created before them).
        Up to ``concurrency`` windows (and retrieves) are read at once, handed on in order."""
        seen: set[str] = set()

        def listed(created: Created) -> Iterator[tuple[str, Item]]:
            for raw in self.list(created):
                yield str(raw["id"]), self.item(raw, changes)

        for ext_id, item in read_in_order(windows, listed, concurrency):
            if ext_id in seen:  # never yield one object twice in a read
                continue
            seen.add(ext_id)
            yield item
        if refetch:
            wanted = [i for i in changes.changed(self.kind) if i not in seen]
            yield from read_in_order(wanted, lambda i: self.refetched(i, changes), concurrency)

    def refetched(self, ext_id: str, changes: Changes) -> list[Item]:
        found = self.api.retrieve(f"{self.path}/{ext_id}")
        if found is None or found.get("deleted") is True:
            log.info("stripe.gone", kind=self.kind, id=ext_id)
            return []
        return [self.item(found, changes)]

    def list(self, created: Created) -> Iterator[Raw]:
        return self.api.list(self.path, {**self.params, **created_params(created)})


class PlansStream(_Stream):
    """Recurring prices (legacy plans are prices with the same id), product names expanded.

    Read in full on every run: prices carry no change time and there are few of them.
    """

    kind = "plan"
    path = "/v1/prices"
    params: ClassVar[Mapping[str, Any]] = {"type": "recurring", "expand[]": ["data.product"]}

    def __init__(self, api: StripeApi) -> None:
        super().__init__(api)
        self.recurring_ids: set[str] = set()

    def build(self, raw: Raw, changes: Changes) -> SourceRecord:
        self.recurring_ids.add(str(raw["id"]))
        return mapping.to_plan(raw)


class CustomersStream(_Stream):
    kind = "customer"
    path = "/v1/customers"

    def build(self, raw: Raw, changes: Changes) -> SourceRecord:
        return mapping.to_customer(raw, changes.stamp("customer", ref(raw.get("id"))))


class SubscriptionsStream(_Stream):
    """Subscriptions of every status: without ``status=all`` Stripe hides cancelled ones."""

    kind = "subscription"
    path = "/v1/subscriptions"
    params: ClassVar[Mapping[str, Any]] = {"status": "all"}

    def build(self, raw: Raw, changes: Changes) -> SourceRecord:
        return mapping.to_subscription(raw, changes.stamp("subscription", ref(raw.get("id"))))


class InvoicesStream(_Stream):
    """Invoices with every line (paged past the embedded ones) and their credit notes."""

    kind = "invoice"
    path = "/v1/invoices"

    def __init__(self, api: StripeApi, recurring_prices: Callable[[], Collection[str]]) -> None:
        super().__init__(api)
        self.recurring_prices = recurring_prices

    def lines(self, raw: Raw) -> list[Raw]:
        embedded = raw.get("lines")
        if not isinstance(embedded, Mapping) or not isinstance(embedded.get("data"), list):
            raise FatalError(f"invoice {raw.get('id')!r}: malformed 'lines' list: "
                             f"{_preview(embedded)}")
        lines: list[Raw] = list(embedded["data"])
        if not all(isinstance(line, Mapping) and isinstance(line.get("id"), str) for line in lines):
            raise FatalError(f"invoice {raw.get('id')!r}: malformed 'lines' list: a line "
                             "without an id")
        if embedded.get("has_more") is True and lines:
            more = self.api.list(f"{self.path}/{raw['id']}/lines",
                                 {"starting_after": lines[-1].get("id")})
            lines.extend(more)
        return lines

    def credit_notes(self, raw: Raw) -> list[Raw]:
        if not mapping.needs_credit_notes(raw):
            return []
        return list(self.api.list("/v1/credit_notes", {"invoice": raw["id"]}))

    def item(self, raw: Raw, changes: Changes) -> Item:
        lines = self.lines(raw)
        try:
            return mapping.to_invoice(raw, lines, self.credit_notes(raw),
                                      recurring_prices=self.recurring_prices(),
                                      updated_at=changes.stamp("invoice", str(raw["id"])))
        except RecordError as exc:
            whole = {**raw, "lines": {**raw["lines"], "data": lines, "has_more": False}}
            return quarantined(self.kind, whole, exc)
