"""The files connector with bad values: zone names and day-first dates are refused, not
guessed; extreme values are quarantined naming the field; utf-16/utf-32 exports are read."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saasync.reasons import Reason
from tests.connectors.test_files_connector import (
    export,
    invoice,
    quarantined,
    read,
    single_invoice,
)


@pytest.mark.parametrize("text", ["2026-11-01 09:30 PST", "2026-11-01 09:30 CET",
                                  "2026-11-01 09:30 EST", "Nov 1 2026 9:30 IST"])
def test_unknown_zone_abbreviation_is_quarantined(tmp_path: Path, text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dateutil's UnknownTimezoneWarning is a failure here
        items = read(export(tmp_path, invoices=[invoice(issued_at=text)]))
    (q,) = quarantined(items)
    assert (q.external_id, q.field, q.reason) == ("inv_1", "issued_at", Reason.INVALID_RECORD)
    zone = text.split()[-1]
    assert f"time zone name {zone!r}" in q.message
    assert "ISO 8601 with an offset or Z" in q.message and "epoch seconds" in q.message


@pytest.mark.parametrize("text", ["31/10/2026", "13.01.2026", "31-10-2026 09:30", "2026/31/10"])
def test_day_first_date_is_quarantined(tmp_path: Path, text: str) -> None:
    (q,) = quarantined(read(export(tmp_path, invoices=[invoice(issued_at=text)])))
    assert (q.external_id, q.field, q.reason) == ("inv_1", "issued_at", Reason.INVALID_RECORD)
    assert "month-first" in q.message and text in q.message and "accepted" in q.message


@pytest.mark.parametrize("text", ["09:30", "November 2026", "Monday"])
def test_incomplete_date_is_quarantined_not_filled_from_today(tmp_path: Path, text: str) -> None:
    (q,) = quarantined(read(export(tmp_path, invoices=[invoice(issued_at=text)])))
    assert q.field == "issued_at" and "accepted" in q.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-01T09:30:00Z", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("2026-11-01T10:30:00+01:00", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("2026-11-01 09:30", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
     ("1793525400", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("11/01/2026", datetime(2026, 11, 1, tzinfo=UTC)),
     ("11/01/2026 09:30 UTC", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("11/01/2026 09:30 GMT", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("11/01/2026 10:30 +0100", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
     ("1 Nov 2026", datetime(2026, 11, 1, tzinfo=UTC)),
     ("2026-11-01T09:30:00.5Z", datetime(2026, 11, 1, 9, 30, 0, 500000, tzinfo=UTC))],
)  # fmt: skip
def test_documented_time_spellings_are_still_read(
    tmp_path: Path, text: str, expected: datetime
) -> None:
    got = single_invoice(read(export(tmp_path, invoices=[invoice(issued_at=text)])))
    assert got.issued_at == expected
