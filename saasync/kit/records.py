"""The one bad-record type every connector raises, and the one way it becomes a review-queue entry.

A connector's mapping code raises :class:`MappingError` (naming the record, the field and
the reason code) instead of returning half a record; the stream catches it and yields
:func:`quarantine` of it, so the run goes on and the review queue says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from saasync.connector import Quarantined
from saasync.models import RecordError
from saasync.reasons import Reason


class MappingError(RecordError):
    """A vendor record that cannot become a normalized one: which record, which field, why.

    ``raw`` extends the quarantined raw (what the reviewer needs beyond the record itself);
    ``location`` is set when the culprit is another row than the record's own (the bad
    line of an invoice in an export file), so the review queue points at the row to fix.
    """

    def __init__(self, kind: str, external_id: str | None, field: str, message: str,
                 reason: Reason = Reason.INVALID_RECORD, *,
                 raw: Mapping[str, Any] | None = None, location: str | None = None) -> None:
        super().__init__(kind, external_id, field, message)
        self.reason = reason
        self.raw = dict(raw or {})
        self.location = location


class _FromError:
    """The default of :func:`quarantine`'s ``external_id``: the id the error names."""


FROM_ERROR: Final = _FromError()


def known_id(*candidates: str | None) -> str | None:
    """The first candidate that is a real id (not None, empty, or RecordError's ``"?"``)."""
    for candidate in candidates:
        if candidate not in (None, "", "?"):
            return candidate
    return None


def quarantine(kind: str, exc: RecordError, raw: Mapping[str, Any] | None, *,
               external_id: str | None | _FromError = FROM_ERROR,
               location: str | None = None) -> Quarantined:
    """The review-queue entry for a record that failed to map; the run goes on.

    ``external_id`` defaults to the one the error names (None when it names none); the
    reason is the error's (a plain :class:`RecordError` from model validation is
    INVALID_RECORD); ``raw`` is kept as given, extended by the error's own ``raw``.
    """
    if isinstance(external_id, _FromError):
        external_id = known_id(exc.external_id)
    reason = exc.reason if isinstance(exc, MappingError) else Reason.INVALID_RECORD
    review = None if raw is None else dict(raw)
    if isinstance(exc, MappingError) and exc.raw:
        review = {**(review or {}), **json_safe(exc.raw)}
    return Quarantined(kind, external_id, reason, str(exc), exc.field, location, review)


def json_safe(value: Any) -> Any:
    """Vendor JSON (with Decimals and datetimes) as plain JSON types, for the review queue."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
