"""Reading export files row by row: CSV and JSON Lines, decoded one line at a time.

Decoding line by line (not the whole file) is what lets one row with stray Latin-1
bytes be quarantined while every other row of the file is still read. A row that
cannot be read at all comes back as a ``RawRow`` with ``error`` set; the connector
turns it into a ``Quarantined`` record.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

FORMATS = ("csv", "jsonl")
REPLACEMENT = "\ufffd"


@dataclass(slots=True)  # not frozen: ~4× cheaper to make, and one is made per row and line
class RawRow:
    """One row of an export file, as read, before any validation.

    ``location`` is what a person needs to find the row: ``"invoices.csv row 12"`` (the
    line the row starts on, the header being row 1) or ``"invoices.jsonl line 3"``.
    ``error`` says why the row itself is unreadable (bytes that are not valid in the
    file's encoding, malformed JSON, a wrong number of CSV fields); ``error_field`` names
    the column holding the bad bytes when it can be told.
    """

    location: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_field: str | None = None
    whole_file: bool = False  # the header itself is unreadable: no row of the file can be read
    owner: bool | None = None  # the reader's ``route`` said whose row this is (None: not said)


# Encodings whose code units are wider than a byte: a file in one of them is split into
# lines on its own newline code unit, aligned, never on the byte 0x0A.
_WIDE = {
    "utf-16": (2, None), "utf-16-le": (2, "little"), "utf-16-be": (2, "big"),
    "utf-32": (4, None), "utf-32-le": (4, "little"), "utf-32-be": (4, "big"),
}  # fmt: skip
_BOMS = (
    (codecs.BOM_UTF32_LE, 4, "little"), (codecs.BOM_UTF32_BE, 4, "big"),
    (codecs.BOM_UTF16_LE, 2, "little"), (codecs.BOM_UTF16_BE, 2, "big"),
)  # fmt: skip
_ASCII_PROBE = '\n\r,"{}[]:0123456789-.azAZ_ '
_CHUNK = 1 << 20


@lru_cache(maxsize=64)
def _codec_name(encoding: str) -> str:
    return codecs.lookup(encoding).name.replace("_", "-")


def encoding_problem(encoding: str) -> str | None:
    """Why ``encoding`` cannot be used to read exports line by line, or None when it can:
    an ASCII-compatible encoding (UTF-8, Latin-1, Windows-1252, ...) or UTF-16 / UTF-32."""
    name = _codec_name(encoding)
    if name in _WIDE:
        return None
    try:
        compatible = _ASCII_PROBE.encode("ascii").decode(encoding) == _ASCII_PROBE
    except (UnicodeError, LookupError):
        compatible = False
    if compatible:
        return None
    return (f"{encoding!r} cannot be read line by line (its newline is not the byte 0x0A); "
            "use UTF-8, UTF-16, UTF-32 or another ASCII-compatible encoding")


def _wide_lines(handle: BinaryIO, unit: int, order: str) -> Iterator[bytes]:
    """Physical lines of a UTF-16/32 file (its BOM removed), each ending with its newline
    code unit: split on code-unit boundaries only, so a character whose bytes hold 0x0A is
    never cut."""
    newline = "\n".encode(f"utf-{unit * 8}-{'le' if order == 'little' else 'be'}")
    buffer = b""
    while chunk := handle.read(_CHUNK):
        buffer += chunk
        start = 0
        at = buffer.find(newline, start)
        while at >= 0:
            if (at - start) % unit:
                at = buffer.find(newline, at + 1)
                continue
            end = at + unit
            yield buffer[start:end]
            start = end
            at = buffer.find(newline, start)
        buffer = buffer[start:]
    if buffer:
        yield buffer


def physical_lines(handle: BinaryIO, encoding: str) -> tuple[Iterable[bytes], str]:
    """The file's lines as bytes, and the codec that decodes each line on its own. For an
    ASCII-compatible encoding, the file object itself (split on 0x0A, the fast path); for
    UTF-16/32, lines split on the aligned newline code unit, the byte order taken from the
    byte-order mark (or the encoding's name; without either, this machine's order)."""
    name = _codec_name(encoding)
    if name not in _WIDE:
        return handle, encoding
    unit, order = _WIDE[name]
    head = handle.read(4)
    for bom, bom_unit, bom_order in _BOMS:
        if bom_unit == unit and head.startswith(bom) and order in (None, bom_order):
            handle.seek(len(bom))
            order = bom_order
            break
    else:
        handle.seek(0)
    order = order or sys.byteorder
    return _wide_lines(handle, unit, order), f"utf-{unit * 8}-{'le' if order == 'little' else 'be'}"


def _decode(raw: bytes, encoding: str, number: int) -> tuple[str, str | None]:
    """Decode one physical line; on failure return a lossy decoding and what went wrong."""
    if (
        number == 1
        and raw.startswith(codecs.BOM_UTF8)
        and encoding.lower().replace("-", "")
        in (
            "utf8",
            "utf8sig",
        )
    ):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.end].hex(" ")
        problem = f"line {number} is not valid {encoding}: byte(s) {bad} at position {exc.start}"
        return raw.decode(encoding, errors="replace"), problem


def _field_with_replacement(data: dict[str, Any]) -> str | None:
    """The first column whose (lossily decoded) value holds a replacement character."""
    for key, value in data.items():
        if isinstance(value, str) and REPLACEMENT in value:
            return key
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    inner = _field_with_replacement(item)
                    if inner is not None:
                        return f"{key}.{index}.{inner}"
    return None


def read_csv(path: Path, encoding: str = "utf-8") -> Iterator[RawRow]:
    """Yield each data row of a CSV file with a header row, as ``{column: text}``.

    Column names are matched case-insensitively (stripped, lower-cased); a column with
    an empty name is ignored. Fully blank lines are skipped. Quoted fields may span several lines; the row's location is the
    line it starts on.
    """
    name = path.name
    problems: dict[int, str] = {}
    recent: list[str] = []  # the physical lines of the row being read

    def lines() -> Iterator[str]:
        with path.open("rb") as handle:
            raws, codec = physical_lines(handle, encoding)
            for number, raw in enumerate(raws, start=1):
                text, problem = _decode(raw, codec, number)
                if problem is not None:
                    problems[number] = problem
                recent.append(text)
                yield text

    reader = csv.reader(lines())
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield RawRow(f"{name} row 1", error=f"the header cannot be read: {exc}", whole_file=True)
        return
    if header is None:
        return
    if 1 in problems:
        problem = f"the header cannot be read: {problems[1]}"
        yield RawRow(f"{name} row 1", error=problem, whole_file=True)
        return
    columns = [column.strip().lower() for column in header]
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        problem = f"duplicate column(s) in the header: {', '.join(duplicates)}"
        yield RawRow(f"{name} row 1", error=problem, whole_file=True)
        return
    last_line = reader.line_num
    while True:
        first_line = last_line + 1
        recent.clear()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield RawRow(f"{name} row {first_line}", error=f"malformed CSV: {exc}")
            continue
        last_line = reader.line_num
        if not cells or all(not cell.strip() for cell in cells):
            continue
        location = f"{name} row {first_line}"
        data = {col: cell for col, cell in zip(columns, cells) if col}
        if last_line > first_line and sum(text.count('"') for text in recent) % 2:
            # an odd number of quotes over several lines: a quote that never closes, which
            # swallowed every line after it (the reader is lenient and does not say so)
            problem = (f"a quote opened on row {first_line} is never closed: it runs to line "
                       f"{last_line}, so rows {first_line + 1} to {last_line} were read as "
                       "part of this field; close the quote")
            yield RawRow(location, {k: v for k, v in data.items() if "\n" not in v}, problem)
            continue
        bad = [problems[n] for n in range(first_line, last_line + 1) if n in problems]
        if bad:
            yield RawRow(location, data, "; ".join(bad), _field_with_replacement(data))
        elif len(cells) != len(columns):
            problem = f"the row has {len(cells)} fields but the header has {len(columns)}"
            yield RawRow(location, data, problem)
        else:
            yield RawRow(location, data)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# One decoder for every line: ``json.loads`` with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constants)


MAX_DEPTH = 32  # JSON nesting levels a row may have (an invoice with lines needs 3)
_DEEP = f"nested deeper than {MAX_DEPTH} levels of objects and arrays: not an export row"


def _too_deep(data: Any) -> bool:
    """Whether parsed JSON nests more than ``MAX_DEPTH`` levels (walked without recursion)."""
    level: list[Any] = [data] if isinstance(data, (dict, list)) else []
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


_TOP_SCALAR = re.compile(r'"(external_id|customer_external_id)"\s*:\s*"([^"\\]{1,200})"')


def _scalars(text: str) -> dict[str, Any]:
    """The ids of a row too deep to be decoded, when they can be read as plain strings, so
    the review queue still names the record."""
    found: dict[str, Any] = {}
    for key, value in _TOP_SCALAR.findall(text[:4096]):
        found.setdefault(key, value)
    return found


# What a ``route`` says of a line before it is decoded.
PASS, OURS, THEIRS = 0, 1, 2  # not even decoded; decoded and ours; decoded, someone else's
Route = Callable[[bytes], "int | None"]  # None: decode, the caller decides


def read_jsonl(path: Path, encoding: str = "utf-8", route: Route | None = None) -> Iterator[RawRow]:
    """Yield each JSON object of a JSON Lines file (one object per line).

    Numbers are read as exact ``Decimal``/``int``, never as binary floats, so a money
    amount written as a JSON number keeps its exact value. Blank lines are skipped.
    ``route`` looks at each line before it is decoded (PASS, OURS, THEIRS or None); the
    row's ``owner`` says what it decided.
    """
    name = path.name
    with path.open("rb") as handle:
        raws, codec = physical_lines(handle, encoding)
        for number, raw in enumerate(raws, start=1):
            owner = None
            if route is not None:
                decision = route(raw)
                if decision == PASS:
                    continue
                owner = None if decision is None else decision == OURS
            text, problem = _decode(raw, codec, number)
            if not text.strip():
                continue
            location = f"{name} line {number}"
            try:
                data = _DECODER.decode(text)
            except RecursionError:
                data = None
            except (json.JSONDecodeError, ValueError) as exc:
                message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield RawRow(location, error=problem or f"not valid JSON: {message}",
                             owner=owner)
                continue
            # depth needs one opening bracket a level: a line with few cannot be too deep,
            # so the walk runs only where it could find something (str.count is C-fast)
            if data is None or (text.count("{") + text.count("[") > MAX_DEPTH
                                and _too_deep(data)):
                yield RawRow(location, _scalars(text), error=_DEEP, owner=owner)
                continue
            if not isinstance(data, dict):
                yield RawRow(location, error="expected a JSON object on each line", owner=owner)
                continue
            if problem is not None:
                yield RawRow(location, data, problem, _field_with_replacement(data), owner=owner)
            else:
                yield RawRow(location, data, owner=owner)


def read_rows(path: Path, fmt: str, encoding: str = "utf-8",
              route: Route | None = None) -> Iterator[RawRow]:
    """Rows of one export file in the given format; a file that does not exist has none.
    ``route`` (JSON Lines only): see ``read_jsonl``."""
    if not path.is_file():
        return iter(())
    return read_csv(path, encoding) if fmt == "csv" else read_jsonl(path, encoding, route)


def quick_text(raw: bytes, key: bytes, encoding: str) -> str | None:
    """The plain string value of ``key`` in one JSON line, read without decoding the line,
    or None when that cannot be told for sure: the key is absent or appears more than once
    (a nested object has it too, or a value holds its text), or the value is not a plain
    string (escapes, another type). Then the caller decodes the line."""
    if _codec_name(encoding) in _WIDE:  # the key's bytes are not its ASCII bytes
        return None
    quoted = b'"' + key + b'"'
    at = raw.find(quoted)
    if at < 0 or raw.find(quoted, at + 1) >= 0:
        return None
    match = _STRING_VALUE.match(raw, at + len(quoted))
    if match is None:
        return None
    try:
        return match.group(1).decode(encoding).strip()
    except (UnicodeDecodeError, LookupError):
        return None


_STRING_VALUE = re.compile(rb'\s*:\s*"([^"\\]*)"')


def json_safe(value: Any) -> Any:
    """A copy of a parsed row that ``json.dumps`` accepts (Decimals become their text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
