"""The file connector: billing exports on disk (CSV or JSON Lines) as normalized records.

Reads a directory holding customers, plans, subscriptions and invoices (with their
lines and payments) and yields them in that dependency order: plans, customers,
subscriptions, invoices. A row that cannot be read or validated becomes a
``Quarantined`` record naming its file, row and field; the run goes on. The format is
documented for users in ``BEHAVIOR.md`` beside this file.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator

from saasync.connector import (
    ConnectorContext,
    Quarantined,
    ReadWindow,
    partition_of,
    record_timestamp,
)
from saasync.connector_options import ConnectorOptions, option
from saasync.errors import ConfigError, SourceChangedError
from saasync.kit.intset import IntSet
from saasync.kit.records import MappingError, quarantine
from saasync.models import (
    Customer,
    Invoice,
    Plan,
    SourceRecord,
    SourceSubscription,
    to_utc,
)
from saasync.reasons import Reason

from .bundled import SAMPLES, FilesSamples
from .columns import INVOICE_KEY, TABLES
from .formats import (
    FORMATS,
    OURS,
    PASS,
    THEIRS,
    RawRow,
    Route,
    encoding_problem,
    json_safe,
    quick_text,
    read_rows,
)
from .mapping import (
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)

_RECORD_KINDS = ("plan", "customer", "subscription", "invoice")
FILES: dict[str, dict[str, str]] = {  # format -> record kind -> file name
    "csv": {kind: f"{table}.csv" for kind, table in TABLES.items()},
    "jsonl": {kind: f"{TABLES[kind]}.jsonl" for kind in _RECORD_KINDS},  # lines nested
}
_KIND_OF: dict[type, str] = {
    Plan: "plan", Customer: "customer", SourceSubscription: "subscription", Invoice: "invoice"}
MAX_RESCANS = 50  # duplicate invoice ids located per run (each costs a read of the file)
Item = SourceRecord | Quarantined
FileState = tuple[int, int, str] | None  # (size, mtime in ns, SHA-256), None: no such file
Snapshot = dict[str, FileState]  # by file name
Builder = Callable[[Mapping[str, Any]], SourceRecord]
_SIMPLE: tuple[tuple[str, Builder], ...] = (
    ("plan", to_plan),
    ("customer", to_customer),
    ("subscription", to_subscription),
)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _quarantine(
    kind: str, row: RawRow, exc: MappingError | None = None, raw: Mapping[str, Any] | None = None
) -> Quarantined:
    """A Quarantined record for a row that is unreadable (``exc`` None) or invalid."""
    ext_id = _text(row.data.get("external_id")) or None
    raw = json_safe(dict(raw if raw is not None else row.data))
    if exc is not None:
        return quarantine(kind, exc, raw, external_id=ext_id, location=exc.location or row.location)
    if row.whole_file:
        message = f"{row.location}: {row.error}; no row of this file was read"
        return Quarantined("file", None, Reason.INVALID_RECORD, message, None, row.location)
    message = f"{kind} {ext_id or '?'!r} at {row.location} cannot be read: {row.error}"
    return Quarantined(
        kind, ext_id, Reason.INVALID_RECORD, message, row.error_field, row.location, raw
    )


def _path(value: Any) -> str:
    if value is None or _text(value) == "":
        raise ValueError("required (the directory holding the exports)")
    return str(value)


def _encoding(value: Any) -> str:
    encoding = _text(value)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown {encoding!r}") from None
    problem = encoding_problem(encoding)
    if problem is not None:
        raise ValueError(problem)
    return encoding


def _format(value: Any) -> str:
    fmt = _text(value).lower()
    if fmt not in (*FORMATS, "auto"):
        raise ValueError(f"{fmt!r} is not one of csv, jsonl, auto")
    return fmt


class FilesOptions(ConnectorOptions):
    """The connector's options; anything else is a ConfigError."""

    connector: ClassVar[str] = "files"

    path: Annotated[str, BeforeValidator(_path)] = option(
        None, "required: the folder holding the export files, relative to this config file "
        "(customers, plans, subscriptions, invoices, invoice_lines, transactions; .csv or "
        ".jsonl)", example='"exports"', active=True, check_default=True)
    format: Annotated[str, BeforeValidator(_format)] = option(
        "auto", '"csv", "jsonl" or "auto" (whichever kind of file is there)', example='"auto"')
    encoding: Annotated[str, BeforeValidator(_encoding)] = option(
        "utf-8", "the files' text encoding (any Python codec name)", example='"utf-8"')


def _configure(options: Mapping[str, Any], context: ConnectorContext) -> tuple[Path, str, str]:
    checked = FilesOptions.parse(options)
    directory = Path(checked.path).expanduser()
    if not directory.is_absolute():
        directory = Path(context.base_dir) / directory
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise ConfigError(f"files connector: option 'path': directory {directory} {what}")
    fmt = checked.format
    if fmt == "auto":
        fmt = _detect_format(directory)
    return directory, fmt, checked.encoding


def _detect_format(directory: Path) -> str:
    present = [
        fmt for fmt in FORMATS if any((directory / name).is_file() for name in FILES[fmt].values())
    ]
    if len(present) == 1:
        return present[0]
    if present:
        raise ConfigError(
            f"files connector: option 'format': {directory} holds both CSV and JSON Lines "
            'exports; set format = "csv" or "jsonl"'
        )
    expected = ", ".join([*FILES["csv"].values(), *FILES["jsonl"].values()])
    raise ConfigError(
        f"files connector: option 'path': no export file in {directory} (expected {expected})"
    )


def _raw_time(raw: Mapping[str, Any] | None, names: Sequence[str]) -> datetime | None:
    """Best-effort timestamp of a quarantined row, so windows can place it; None if unknown."""
    for name in names:
        try:
            value = to_utc((raw or {}).get(name))
        except (ValueError, TypeError, OverflowError):
            continue
        if isinstance(value, datetime):
            return value
    return None


def in_window(item: Item, window: ReadWindow) -> bool:
    """Whether ``item`` belongs to the read: changed since (incremental), issued in (backfill).

    A record with no usable timestamp is always read: better read twice than never.
    Orphan lines and transactions, and unreadable files, are always reported.
    """
    if isinstance(item, Quarantined) and item.kind not in _RECORD_KINDS:
        return True
    since = to_utc(window.since) if window.since is not None else None
    if window.mode == "backfill":
        issued: datetime | None
        if isinstance(item, Invoice):
            issued = item.issued_at
        elif isinstance(item, Quarantined) and item.kind == "invoice":
            issued = _raw_time(item.raw, ("issued_at",))
        else:
            return True
        until = to_utc(window.until) if window.until is not None else None
        if issued is None:
            return True
        return (since is None or issued >= since) and (until is None or issued < until)
    if since is None:
        return True
    if isinstance(item, Quarantined):
        names = ("updated_at", "issued_at", "created_at", "started_at")
        stamp = _raw_time(item.raw, names)
        kind, ext_id = item.kind, item.external_id
    else:
        stamp = record_timestamp(item)
        kind, ext_id = _KIND_OF.get(type(item), ""), item.external_id
    if stamp is None or stamp >= since:
        return True
    return _never_read(window, kind, ext_id)


def _never_read(window: ReadWindow, kind: str, ext_id: str | None) -> bool:
    """A row earlier runs never read (added late to the export): read whatever its dates."""
    return window.known is not None and bool(ext_id) and (kind, ext_id) not in window.known


class FilesConnector:
    """Reads ``path`` (relative to the config's directory) in ``format`` csv | jsonl | auto."""

    name: ClassVar[str] = "files"
    options_model: ClassVar[type[ConnectorOptions]] = FilesOptions
    samples: ClassVar[FilesSamples] = SAMPLES  # path = "builtin:sample" (saasync.samples)
    rereadable: ClassVar[bool] = True  # reading the files again is cheap (saasync.lean)

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext) -> None:
        self.directory, self.format, self.encoding = _configure(options, context)
        self._rescans = 0
        self._part: tuple[int, int] | None = None
        self._before: Snapshot | None = None  # the files as ``fingerprint`` hashed them
        self._owners: dict[str, str] = {}  # subscription id -> customer, from subscription rows
        self._claims: dict[str, str] | None = None  # no subscription rows: first user in the file

    def partition(self, index: int, count: int) -> None:
        """Read only the customers of partition ``index`` of ``count`` (with their
        subscriptions and invoices), every plan, and the file-wide problems (a bad plan row,
        an orphan invoice line) in partition 0 only. Every row is still decoded, so that
        invoice ids are checked for duplicates across the whole file."""
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"partition {index} of {count} does not exist")
        self._part = (index, count) if count > 1 else None

    @property
    def _first(self) -> bool:
        """This read reports what belongs to no customer: the only one, or partition 0."""
        return self._part is None or self._part[0] == 0

    def _mine(self, kind: str, row: RawRow) -> bool:
        """Whether ``row`` belongs to this read's partition: by its customer, or, when the
        row does not say (unreadable, no customer), by where it is in the file."""
        if self._part is None:
            return True
        if row.owner is not None:
            return row.owner
        index, count = self._part
        name = "external_id" if kind == "customer" else "customer_external_id"
        key = _text(row.data.get(name)) if row.error is None else ""
        return partition_of(key or row.location, count) == index

    def fingerprint(self) -> str:
        """A hash of every export file's bytes (and how they are read). When it equals the
        one of the last completed sync, the engine reads nothing: a scheduled run over
        unchanged exports costs a hash of the files instead of decoding them. The files'
        state is kept: the read that follows checks the files against it at its end."""
        snapshot = self._snapshot()
        self._before = snapshot
        digest = hashlib.sha256(f"{self.format}|{self.encoding}".encode())  # ~1 GB/s here
        for kind, name in sorted(FILES[self.format].items()):
            state = snapshot[name]
            digest.update(f"|{kind}:{name}:{state[2] if state else '-'}".encode())
        return digest.hexdigest()

    def _snapshot(self) -> Snapshot:
        return {name: _file_state(self.directory / name) for name in FILES[self.format].values()}

    def _check_unchanged(self, before: Snapshot) -> None:
        """A read is one consistent snapshot only if no file changed while it was read: the
        size, modification time and hash at its end must be those at its start (or at the
        ``fingerprint`` the engine took before it)."""
        after = self._snapshot()
        changed = [name for name, state in before.items() if after.get(name) != state]
        if changed:
            paths = ", ".join(str(self.directory / name) for name in changed)
            raise SourceChangedError(
                f"files connector: {paths} changed while it was read (size, modification time "
                "or content differ from the start of the read), so what was read is not one "
                "consistent export; nothing was sent and the cursor did not move: run again "
                "once the export is written (write it to another name and rename it into "
                "place to avoid this)")

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Every record of the window; raises ``SourceChangedError`` after the last one when
        an export file changed while it was read (the records yielded are then not one
        consistent export, and the engine fails the run before sending any of them)."""
        before = self._before if self._before is not None else self._snapshot()
        self._before = None
        yield from self._read(window)
        self._check_unchanged(before)

    def _read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        self._window = window
        self._rescans = 0
        for kind, build in _SIMPLE:
            for item in self._records(kind, build):
                if in_window(item, window):
                    yield item
        self._owners = self._subscription_owners()
        self._claims = None if self._owners else {}
        invoices = self._csv_invoices() if self.format == "csv" else self._jsonl_invoices()
        for item in invoices:
            if in_window(item, window):
                yield item

    def _clearly_outside(self, kind: str, data: Mapping[str, Any]) -> bool:
        """A row whose own timestamp puts it outside the window is passed over before it is
        mapped: a scheduled run with nothing new then costs a scan, not a full validation.
        A row whose timestamp cannot be read is mapped (and quarantined if it is bad)."""
        window = getattr(self, "_window", None)
        if window is None or window.since is None:
            return False
        if window.mode == "backfill":
            if kind != "invoice":
                return False
            issued = _quick_time(data.get("issued_at"))
            return issued is not None and not (
                window.since <= issued and (window.until is None or issued < window.until))
        names = ("updated_at", "issued_at", "created_at", "started_at")
        raw = next((data[n] for n in names if data.get(n) not in (None, "")), None)
        stamp = _quick_time(raw)
        return (stamp is not None and stamp < window.since
                and not _never_read(window, kind, _text(data.get("external_id"))))

    def _rows(self, kind: str, route: Route | None = None) -> Iterator[RawRow]:
        path = self.directory / FILES[self.format][kind]
        return read_rows(path, self.format, self.encoding, route)

    def _route(self, kind: str, seen: IntSet | None = None) -> Route | None:
        """With a partition, JSON lines are told apart before decoding, by the customer id
        read straight from the bytes: a line of another partition costs a search, not a
        decode. An invoice line of another partition still has its id noted in ``seen``, so
        duplicates are found across the whole file. Lines whose ids cannot be read that way
        (see ``quick_text``) are decoded, and their owner decided from the decoded row."""
        if self._part is None or self.format != "jsonl" or kind == "plan":
            return None
        index, count = self._part
        encoding = self.encoding
        key = b"external_id" if kind == "customer" else b"customer_external_id"

        def route(raw: bytes) -> int | None:
            customer = quick_text(raw, key, encoding)
            if not customer:
                return None
            if partition_of(customer, count) == index:
                return OURS
            if seen is None:
                return PASS
            if self._claims is not None:
                return THEIRS  # decoded: the subscriptions it names are claimed in file order
            inv_id = quick_text(raw, b"external_id", encoding)
            if not inv_id:
                return THEIRS  # decoded for its id only
            seen.add(hash(inv_id))
            return PASS

        return route

    def _records(self, kind: str, build: Builder) -> Iterator[Item]:
        shared = kind == "plan"  # every partition needs the plans; partition 0 reports them
        for row in self._rows(kind, self._route(kind)):
            if not (shared or self._mine(kind, row)):
                continue
            if row.error is not None:
                if not shared or self._first:
                    yield _quarantine(kind, row)
                continue
            if self._clearly_outside(kind, row.data):
                continue
            try:
                yield build(row.data)
            except MappingError as exc:
                if not shared or self._first:
                    yield _quarantine(kind, row, exc)

    def _invoice(self, row: RawRow, lines: list[RawRow], transactions: list[RawRow]) -> Item:
        def raw() -> dict[str, Any]:  # what the review queue shows of a bad invoice
            return {
                **row.data,
                "lines": [line.data for line in lines],
                "transactions": [t.data for t in transactions],
            }

        if row.error is not None:
            return _quarantine("invoice", row, raw=raw())
        try:
            invoice = to_invoice(row.data, lines, transactions)
            self._check_subscriptions(row, lines)
        except MappingError as exc:
            return _quarantine("invoice", row, exc, raw())
        return invoice

    def _subscription_owners(self) -> dict[str, str]:
        """The customer of every subscription in the subscription file (all of it, whatever
        the window or partition: a line of any invoice is checked against it)."""
        owners: dict[str, str] = {}
        for row in self._rows("subscription"):
            if row.error is None:
                sub_id = _text(row.data.get("external_id"))
                customer = _text(row.data.get("customer_external_id"))
                if sub_id and customer:
                    owners.setdefault(sub_id, customer)
        return owners

    def _claim(self, row: RawRow, lines: Sequence[Mapping[str, Any]]) -> None:
        """Without subscription rows, a subscription id belongs to the customer of the first
        invoice in the file that names it. Every invoice row is noted, in file order,
        whatever the window or partition, so every run and every process agree."""
        if self._claims is None or row.error is not None:
            return
        customer = _text(row.data.get("customer_external_id"))
        for line in lines:
            sub_id = _text(line.get("subscription_external_id")) if isinstance(line, Mapping) else ""
            if sub_id and customer:
                self._claims.setdefault(sub_id, customer)

    def _check_subscriptions(self, row: RawRow, lines: Sequence[RawRow]) -> None:
        """A line must name a subscription of its invoice's customer: one the subscription
        rows do not hold is UNKNOWN_SUBSCRIPTION, another customer's FOREIGN_SUBSCRIPTION."""
        inv_id = _text(row.data.get("external_id"))
        customer = _text(row.data.get("customer_external_id"))
        owners = self._owners if self._claims is None else self._claims
        for line in lines:
            sub_id = _text(line.data.get("subscription_external_id"))
            if not sub_id:
                continue
            owner = owners.get(sub_id)
            if owner is None and self._claims is None:
                name = FILES[self.format]["subscription"]
                message = f"line names subscription {sub_id!r}, which is not in {name}"
                raise MappingError("invoice", inv_id, "lines.subscription_external_id", message,
                                   reason=Reason.UNKNOWN_SUBSCRIPTION, location=line.location)
            if owner is not None and owner != customer:
                how = ("" if self._claims is None
                       else " (the first invoice in the file naming it is that customer's)")
                message = (f"line names subscription {sub_id!r} of customer {owner!r}{how}, "
                           f"not of this invoice's customer {customer!r}")
                raise MappingError("invoice", inv_id, "lines.subscription_external_id", message,
                                   reason=Reason.FOREIGN_SUBSCRIPTION, location=line.location)

    def _duplicate(self, row: RawRow, seen: IntSet) -> Quarantined | None:
        """Invoice ids must be unique: with CSV, the lines of a duplicate would be ambiguous.

        Ids seen are kept as 64-bit hashes in a flat table (a million ids: 16 MB, against
        ~64 MB as a set of ints and ~180 MB for the ids and their locations). A hash met twice is confirmed, and the
        first row located, by reading the file again up to this row: rare, and exact."""
        inv_id = _text(row.data.get("external_id"))
        if not inv_id:
            return None
        if seen.add(hash(inv_id)):
            return None
        first = self._first_row_of(inv_id, row.location)
        if first is None:  # two ids with one hash: not a duplicate
            return None
        exc = MappingError("invoice", inv_id, "external_id", f"duplicate invoice, first read at {first}")
        # keyed by its row: under the id, it would be taken for the first invoice
        return dataclasses.replace(_quarantine("invoice", row, exc), by_location=True)

    def _first_row_of(self, inv_id: str, before: str) -> str | None:
        """Where ``inv_id`` is first read in the invoice file, before the row at ``before``."""
        self._rescans += 1
        if self._rescans > MAX_RESCANS:
            return "an earlier row (not located: too many duplicates in this file)"
        for row in self._rows("invoice"):
            if row.location == before:
                return None
            if row.error is None and _text(row.data.get("external_id")) == inv_id:
                return row.location
        return None

    def _csv_invoices(self) -> Iterator[Item]:
        """Invoices joined with their lines and payments, which are held in memory by invoice.

        An id on more than one row of ``invoices.csv`` makes every line and payment naming it
        ambiguous (nothing says which of the rows they belong to): none of them may reach an
        invoice. The first row is held with all of them (keyed by the id, so what was sent
        of it before stays as it is), each repeat is quarantined under its own row."""
        lines, problems = self._group("line")
        transactions, more = self._group("transaction")
        repeated = self._repeated_ids()
        for row in self._rows("invoice"):
            if row.whole_file:
                if self._first:
                    yield _quarantine("invoice", row)
                continue
            inv_id = _text(row.data.get("external_id"))
            where = repeated.get(inv_id) if row.error is None else None
            if where is None:
                self._claim(row, [line.data for line in lines.get(inv_id, ())])
            if not self._mine("invoice", row):
                lines.pop(inv_id, None)
                transactions.pop(inv_id, None)
                continue
            if where is not None:
                yield self._repeated(row, where, lines.pop(inv_id, []),
                                     transactions.pop(inv_id, []))
                continue
            if row.error is None and self._clearly_outside("invoice", row.data):
                lines.pop(inv_id, None)
                transactions.pop(inv_id, None)
                continue
            yield self._invoice(row, lines.pop(inv_id, []), transactions.pop(inv_id, []))
        if not self._first:
            return
        yield from problems
        yield from more
        for kind, groups in (("line", lines), ("transaction", transactions)):
            for inv_id, rows in groups.items():
                for row in rows:
                    message = f"invoice {inv_id!r} is not in {FILES['csv']['invoice']}"
                    exc = MappingError(
                        kind, row.data.get("external_id"), "invoice_external_id", message
                    )
                    yield _quarantine(kind, row, exc)

    def _repeated_ids(self) -> dict[str, list[str]]:
        """Ids on more than one readable row of ``invoices.csv``, with those rows' locations.

        Read before the invoices are joined, since the first row of a repeated id must not
        take the lines of the others. Ids are noted as 64-bit hashes in a flat table; only
        when a hash repeats is the file read once more, for the exact ids and their rows."""
        seen, twice = IntSet(), set()
        for row in self._rows("invoice"):
            inv_id = _text(row.data.get("external_id")) if row.error is None else ""
            if inv_id and not seen.add(hash(inv_id)):
                twice.add(hash(inv_id))
        if not twice:
            return {}
        rows: dict[str, list[str]] = {}
        for row in self._rows("invoice"):
            inv_id = _text(row.data.get("external_id")) if row.error is None else ""
            if inv_id and hash(inv_id) in twice:
                rows.setdefault(inv_id, []).append(row.location)
        return {inv_id: where for inv_id, where in rows.items() if len(where) > 1}

    def _repeated(self, row: RawRow, where: list[str], lines: list[RawRow],
                  transactions: list[RawRow]) -> Quarantined:
        """A row of an id repeated in ``invoices.csv`` (see ``_csv_invoices``)."""
        inv_id = _text(row.data.get("external_id"))
        if row.location != where[0]:
            message = (f"duplicate invoice, first read at {where[0]}; its lines and payments "
                       f"cannot be told apart from the first's (see {where[0]})")
            exc = MappingError("invoice", inv_id, "external_id", message)
            # keyed by its row: under the id, it would be taken for the first invoice
            return dataclasses.replace(_quarantine("invoice", row, exc), by_location=True)
        message = (f"invoice id repeated at {', '.join(where[1:])}: in CSV the lines and "
                   "payments naming it cannot be told apart, so neither invoice is sent (what "
                   "was sent of this one before stays as it is); give each invoice its own id")
        exc = MappingError("invoice", inv_id, "external_id", message)
        raw = {**row.data, "lines": [line.data for line in lines],
               "transactions": [t.data for t in transactions]}
        return _quarantine("invoice", row, exc, raw)

    def _group(self, kind: str) -> tuple[dict[str, list[RawRow]], list[Quarantined]]:
        groups: dict[str, list[RawRow]] = {}
        problems: list[Quarantined] = []
        for row in self._rows(kind):
            inv_id = _text(row.data.get(INVOICE_KEY))
            if row.whole_file or (row.error is not None and not inv_id):
                problems.append(_quarantine(kind, row))
            elif not inv_id:
                message = "invoice_external_id is required"
                exc = MappingError(
                    kind, row.data.get("external_id"), "invoice_external_id", message
                )
                problems.append(_quarantine(kind, row, exc))
            else:
                groups.setdefault(inv_id, []).append(row)
        return groups, problems

    def _jsonl_invoices(self) -> Iterator[Item]:
        """Invoices with nested ``lines`` and ``transactions``: streamed, one line at a time."""
        seen = IntSet()
        for row in self._rows("invoice", self._route("invoice", seen)):
            duplicate = None if row.error else self._duplicate(row, seen)
            if duplicate is None and self._claims is not None:
                nested = row.data.get("lines")
                self._claim(row, nested if isinstance(nested, list) else [])
            if not self._mine("invoice", row):
                continue
            if duplicate is not None:
                yield duplicate
                continue
            if row.error is None and self._clearly_outside("invoice", row.data):
                continue
            nested = {name: _nested_rows(row, name) for name in ("lines", "transactions")}
            yield self._invoice(row, nested["lines"], nested["transactions"])


def _file_state(path: Path) -> FileState:
    """Size, modification time (as the file was opened) and SHA-256 of one export file."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            content = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:  # removed since is_file()
        return None
    return (stat.st_size, stat.st_mtime_ns, content)


def _quick_time(value: Any) -> datetime | None:
    """ISO 8601 text as aware UTC with the standard library's C parser, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # out of range in UTC: mapped, and quarantined there
        return None


def _nested_rows(row: RawRow, name: str) -> list[RawRow]:
    value = row.data.get(name)
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        return [RawRow(f"{row.location}, {name}", error=f"'{name}' must be a list of objects")]
    return [
        RawRow(f"{row.location}, {name}[{index}]", item)
        if isinstance(item, dict)
        else RawRow(f"{row.location}, {name}[{index}]", error="expected a JSON object")
        for index, item in enumerate(value)
    ]
