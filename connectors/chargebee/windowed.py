"""Chargebee lists cut into time windows read at once, and what tells a record met again.

A list is cut on the field it is sorted on (``updated_at``, or ``date`` for a backfill's
invoices), so the windows, handed on in order by :func:`saasync.kit.windows.read_in_order`,
give what one list would, in its order. Offset pages are read while the site changes: a
record updated during the read shows up again later (:class:`Seen` passes it on only then).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from saasync.connector import Quarantined
from saasync.kit.windows import Window, read_in_order
from saasync.kit.windows import plan as plan_windows
from saasync.models import SourceRecord

from .mapping import Raw

if TYPE_CHECKING:
    from .streams import ChargebeeApi

Item = SourceRecord | Quarantined


def after(moment: datetime) -> str:
    """``[after]`` is strict and Chargebee times are whole seconds: one second earlier
    makes the filter mean "at or after ``moment``"."""
    return str(math.floor(moment.timestamp()) - 1)


class Seen:
    """Ids already yielded with their ``updated_at``. Offset pages are read while the site
    changes: a record updated mid-read shows up again later, and only then is it newer."""

    def __init__(self) -> None:
        self._stamps: dict[str, int] = {}

    def fresh(self, raw: Raw) -> bool:
        return self.fresh_at(str(raw.get("id")), stamp_of(raw))

    def fresh_at(self, key: str, stamp: int) -> bool:
        if key in self._stamps and self._stamps[key] >= stamp:
            return False
        self._stamps[key] = stamp
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._stamps


def stamp_of(raw: Raw, field: str = "updated_at") -> int:
    value = raw.get(field)
    return value if isinstance(value, int) else 0


class Windowed:
    """How a list is cut into time windows read at once (``saasync.kit.windows``): on
    ``field``, the one it is sorted on, so the windows in order hand on what one list
    would, in its order. Each window asks a second wider and is cut exactly, as the
    operators' edge semantics are not documented."""

    def __init__(self, api: ChargebeeApi, concurrency: int, now: datetime) -> None:
        self.api = api
        self.concurrency = concurrency
        self.now = now

    def windows(self, path: str, resource: str, params: Mapping[str, Any], field: str,
                since: datetime | None, until: datetime | None) -> list[Window]:
        def oldest() -> datetime | None:  # the list's first record, sorted on ``field``
            first = next(self.api.pages(path, resource, {**params, "sort_by[asc]": field},
                                        limit=1), [])
            stamp = stamp_of(first[0], field) if first else None
            return datetime.fromtimestamp(stamp, tz=UTC) if stamp else None

        return plan_windows(since, until, self.now, oldest, self.concurrency)

    @staticmethod
    def bounds(field: str, window: Window) -> dict[str, str]:
        start, end = window
        if start is not None and end is not None:
            return {f"{field}[between]": f"[{after(start)},{math.ceil(end.timestamp())}]"}
        if start is not None:
            return {f"{field}[after]": after(start)}
        if end is not None:
            return {f"{field}[before]": str(math.ceil(end.timestamp()))}
        return {}

    @staticmethod
    def inside(raw: Raw, field: str, window: Window) -> bool:
        value = raw.get(field)
        if not isinstance(value, int):
            return True  # let mapping quarantine it rather than dropping it silently
        start, end = window
        return (start is None or value >= start.timestamp()) and (
            end is None or value < end.timestamp())

    def read(self, path: str, resource: str, params: Mapping[str, Any], field: str,
             windows: Sequence[Window],
             handle: Callable[[list[Raw]], Iterable[tuple[str, int, Item]]], *,
             seen: Seen | None = None) -> Iterator[Item]:
        """Every window's pages through ``handle`` (on the readers' threads), handed on in
        window order; an object met again is passed on only when it changed since."""
        bare = {k: v for k, v in params.items() if not k.startswith(f"{field}[")}

        def one(window: Window) -> Iterator[tuple[str, int, Item]]:
            query = {**bare, **self.bounds(field, window)} if len(windows) > 1 else params
            for page in self.api.pages(path, resource, query):
                yield from handle([raw for raw in page if self.inside(raw, field, window)])

        seen = seen if seen is not None else Seen()
        for key, stamp, item in read_in_order(windows, one, self.concurrency):
            if seen.fresh_at(key, stamp):
                yield item
