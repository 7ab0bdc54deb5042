"""The connector contract: what a billing-system connector yields, and how one is found.

A connector is a class registered under the entry-point group ``saasync.connectors.v1``.
The core never imports the built-in ones (package ``saasync_connectors``, the folder
``connectors/``) by name: a third party adds one by declaring the entry point in its own package.
"""

from __future__ import annotations

import zlib
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from saasync.errors import ConfigError
from saasync.item_mapping import ItemMapping
from saasync.models import SourceRecord
from saasync.reasons import Reason

if TYPE_CHECKING:
    from pydantic import BaseModel

ENTRY_POINT_GROUP = "saasync.connectors.v1"


@dataclass(frozen=True)
class Quarantined:
    """A source record that could not be normalized. It goes to the review queue; the run goes on."""

    kind: str  # customer | plan | invoice | subscription | line | file
    external_id: str | None
    reason: Reason
    message: str
    field: str | None = None
    location: str | None = None  # e.g. "invoices.csv row 12"
    raw: Mapping[str, Any] | None = None
    by_location: bool = False  # the id is another record's too (a duplicate): keyed by location

    @property
    def key(self) -> str:
        if self.by_location and self.location:
            return f"{self.kind}:{self.location}"
        return f"{self.kind}:{self.external_id or self.location or '?'}"


@dataclass(frozen=True)
class ReadWindow:
    """What to read.

    ``incremental``: records changed at or after ``since`` (None: everything).
    ``backfill``: invoices issued in ``[since, until)``, plus every customer, plan and
    subscription they may refer to.
    """

    mode: Literal["incremental", "backfill"] = "incremental"
    since: datetime | None = None
    until: datetime | None = None
    # incremental: the (kind, external id) of records read by earlier runs. A connector that
    # passes over rows by their own dates (export files) still reads a row not in it, however
    # old its date: a row added late to an export is read once. None: not known.
    known: Container[tuple[str, str]] | None = field(default=None, compare=False, repr=False)


class TokenStore(Protocol):
    """Where a connector keeps rotating OAuth2 tokens between runs (the state store).

    Tokens are written as soon as the provider issues them (a refresh token is single-use:
    losing the new one locks the connection out), and never logged or printed.
    """

    def load_tokens(self, connection: str) -> dict[str, Any] | None: ...

    def save_tokens(self, connection: str, tokens: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ConnectorContext:
    """What the engine hands a connector: where relative paths start, the environment,
    the connection's name, its token store, and the user's item mappings."""

    base_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=dict)
    connection: str = "default"
    tokens: TokenStore | None = None
    item_mappings: Mapping[str, ItemMapping] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """A billing-system connector. ``read`` yields normalized records or Quarantined ones.

    Optional abilities, each a Protocol below that the engine (or the runner) checks once:
    ``Checkpointing``, ``Fingerprinting`` and ``Partitionable``.
    """

    name: ClassVar[str]

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]: ...


@runtime_checkable
class Checkpointing(Protocol):
    """A connector that knows it has read everything up to a time (an events feed read to
    the end): the cursor may then move on a quiet source."""

    def checkpoint(self) -> datetime | None: ...


@runtime_checkable
class Fingerprinting(Protocol):
    """A connector that can tell cheaply what the source looks like now (a hash of export
    files): when it equals the last completed sync's, an incremental run reads nothing."""

    def fingerprint(self) -> str | None: ...


@runtime_checkable
class Partitionable(Protocol):
    """A connector whose read can be split: after ``partition(index, count)``, ``read``
    yields only the records of customers with ``partition_of(customer, count) == index``,
    every plan, and the source-wide problems only in partition 0 (a dry run is then split
    over several processes)."""

    def partition(self, index: int, count: int) -> None: ...


# -- optional declarations of a connector class, read by `saasync init` and `saasync connectors`
@runtime_checkable
class OptionsModelDeclaring(Protocol):
    """A connector class whose options are a pydantic model (``ConnectorOptions``): each
    field's description and example document the option. Every built-in connector has one."""

    options_model: ClassVar[type[BaseModel]]


@runtime_checkable
class OptionsListing(Protocol):
    """A connector class (or its module) that lists its options as ``OPTIONS``: option names,
    or a mapping of option name to meaning (a plug-in without an options model)."""

    OPTIONS: ClassVar[Mapping[str, str] | Iterable[str]]


class ConnectorFactory(Protocol):
    name: ClassVar[str]

    def __call__(self, options: Mapping[str, Any], context: ConnectorContext) -> Connector: ...


def load_connector_class(name: str) -> ConnectorFactory:
    """Find a connector by its entry-point name; a broken plug-in is reported, not fatal to others."""
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in available:
        known = ", ".join(sorted(available)) or "none installed"
        raise ConfigError(f"unknown connector {name!r} (available: {known})")
    try:
        cls: ConnectorFactory = available[name].load()
    except Exception as exc:  # a broken plug-in must not take the CLI down with a traceback
        raise ConfigError(f"connector {name!r} failed to load: {exc}") from exc
    return cls


def record_timestamp(record: SourceRecord) -> datetime | None:
    """The cursor value of a record: when it last changed, as far as the source tells."""
    updated = getattr(record, "updated_at", None)
    if updated is not None:
        return updated  # type: ignore[no-any-return]
    for name in ("issued_at", "created_at", "started_at"):
        value = getattr(record, name, None)
        if value is not None:
            return value  # type: ignore[no-any-return]
    return None


def partition_of(key: str, count: int) -> int:
    """Which of ``count`` partitions a customer (or an unreadable row's location) is in.

    CRC-32 of the text: the same in every process and on every run, unlike ``hash``."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % count if count > 1 else 0


__all__ = [  # ItemMapping is re-exported: connectors read it from their context
    "ENTRY_POINT_GROUP",
    "Connector",
    "ConnectorContext",
    "ConnectorFactory",
    "ItemMapping",
    "Quarantined",
    "ReadWindow",
    "TokenStore",
    "load_connector_class",
    "partition_of",
    "record_timestamp",
]
