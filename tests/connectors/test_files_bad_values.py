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


# ---------------------------------------------------------------- encodings


def _reencode(directory: Path, encoding: str) -> None:
    for path in directory.iterdir():
        path.write_bytes(path.read_text("utf-8").encode(encoding))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_utf16_export_is_read(tmp_path: Path, encoding: str) -> None:
    directory = export(tmp_path, invoices=[invoice(), invoice("inv_2")])
    (tmp_path / "invoice_lines.csv").write_text(
        (tmp_path / "invoice_lines.csv").read_text()
        + "inv_2,inv_2_li1,subscription,sub_1,pl_monthly,2026-02-01,2026-03-01,1,,50.00,,,\"Caf\u00e9\n\u0a00\u4e2d\"\n"
    )
    plain = read(directory)
    _reencode(directory, encoding)
    items = read(directory, encoding=encoding)
    assert items == plain
    assert not quarantined(items)
    assert [line.description for line in single_invoice(items[-1:]).lines] == ["Caf\u00e9\n\u0a00\u4e2d"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-be"])
def test_utf16_json_lines_export_is_read(tmp_path: Path, encoding: str) -> None:
    rows = ['{"external_id": "cus_1", "name": "Caf\u00e9 \u0a0a\u4e2d"}', "",
            '{"external_id": "cus_2", "name": "B\u00e9a"}', "{not json"]
    (tmp_path / "customers.jsonl").write_bytes("\r\n".join(rows).encode(encoding))
    items = read(tmp_path, encoding=encoding)
    assert [c.name for c in items if not hasattr(c, "reason")] == ["Caf\u00e9 \u0a0a\u4e2d", "B\u00e9a"]
    (q,) = quarantined(items)
    assert q.location == "customers.jsonl line 4"


def test_utf16_row_with_a_bad_code_unit_is_quarantined_alone(tmp_path: Path) -> None:
    text = '{"external_id": "cus_1", "name": "Ann"}\n{"external_id": "cus_2", "name": "X"}\n'
    raw = text.encode("utf-16-le")
    bad = raw.replace("X".encode("utf-16-le"), b"\x00\xd8")  # a lone high surrogate
    (tmp_path / "customers.jsonl").write_bytes(codecs_bom_le() + bad)
    items = read(tmp_path, encoding="utf-16")
    assert [c.external_id for c in items] == ["cus_1", "cus_2"]
    (q,) = quarantined(items)
    assert q.location == "customers.jsonl line 2" and q.field == "name"


def codecs_bom_le() -> bytes:
    import codecs

    return codecs.BOM_UTF16_LE


def test_encoding_that_cannot_split_lines_is_refused_naming_the_key(tmp_path: Path) -> None:
    from saasync.errors import ConfigError

    export(tmp_path)
    with pytest.raises(ConfigError, match="files connector: invalid configuration\n  encoding: "):
        read(tmp_path, encoding="cp500")  # EBCDIC: a line does not end with byte 0x0A


def test_unclosed_csv_quote_names_the_row_where_it_opened(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        'external_id,name\ncus_1,Ann\ncus_2,"Bo\ncus_3,Cy\ncus_4,Di\n', encoding="utf-8")
    items = read(tmp_path)
    assert [c.external_id for c in items if not hasattr(c, "reason")] == ["cus_1"]
    (q,) = quarantined(items)
    assert (q.external_id, q.location) == ("cus_2", "customers.csv row 3")
    assert "quote opened on row 3 is never closed" in q.message and "rows 4 to 5" in q.message


def test_json_lines_nesting_limit_is_exact_at_its_boundary(tmp_path: Path) -> None:
    """A row of MAX_DEPTH nested objects and arrays (the row itself counts) is read; one more
    level is refused as too deep (the bracket pre-count that skips the walk must never let a
    too-deep row through)."""
    from saasync_connectors.files.formats import _DEEP, MAX_DEPTH, read_jsonl

    def nested(containers: int) -> str:  # the row object, then arrays inside it
        arrays = containers - 1
        return '{"external_id": "inv_1", "x": ' + "[" * arrays + "1" + "]" * arrays + "}"

    path = tmp_path / "invoices.jsonl"
    path.write_text(nested(MAX_DEPTH) + "\n" + nested(MAX_DEPTH + 1) + "\n", "utf-8")
    rows = list(read_jsonl(path))
    assert rows[0].error is None and rows[0].data is not None
    assert rows[1].error == _DEEP and rows[1].data == {"external_id": "inv_1"}
