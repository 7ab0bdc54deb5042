"""Bundled samples: a connector may ship sample data, which the core reaches through the
connector registry, never by importing the connector.

A connector class that ships samples has a ``samples`` attribute that is a
``BundledSamples``. ``path = "builtin:NAME"`` in a connection's options then becomes the
sample NAME of that connection's connector, generated for the current month into
``.saasync/NAME/<today>/`` on first use (``builtin_path``); ``saasync sample`` generates and
describes the samples of ``SAMPLE_CONNECTOR``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from saasync.connector import load_connector_class
from saasync.errors import ConfigError
from saasync.settings import Settings

BUILTIN = "builtin:"
SAMPLE_CONNECTOR = "files"  # the connector of the embedded defaults (path = "builtin:sample")


@runtime_checkable
class BundledSamples(Protocol):
    """What a connector that ships samples offers (as its class attribute ``samples``)."""

    names: tuple[str, ...]  # the samples, as in path = "builtin:NAME"

    def write(self, name: str, target: Path, *, end: date, as_of: datetime | None = None,
              seed: int = 7, fmt: str = "csv") -> None:
        """Write the export of sample ``name`` into ``target``: invoice months up to
        ``end``'s, taken at ``as_of`` (default: the 15th of ``end``'s month)."""

    def describe(self, name: str, *, end: date, as_of: datetime) -> dict[str, Any]:
        """What ``saasync sample describe --json`` prints of the export ``write`` writes."""

    def render(self, described: dict[str, Any]) -> str:
        """``describe``'s result as text."""


def samples_of(connector: str) -> BundledSamples | None:
    """The samples the connector named ``connector`` ships, or None."""
    found = getattr(load_connector_class(connector), "samples", None)
    return found if isinstance(found, BundledSamples) else None


def require_samples(connector: str, name: str) -> BundledSamples:
    """The samples of ``connector``, which must ship the sample ``name``."""
    samples = samples_of(connector)
    if samples is None or name not in samples.names:
        raise ConfigError(f"connector {connector!r} ships no sample {name!r}")
    return samples


def run_moment(today: date) -> tuple[date, datetime]:
    """(end, as_of) of the sample a run started ``today`` generates: invoice months up to
    this month, the export taken at the start of today (so statuses look as they would
    live: renewals due up to today exist and nothing looks late)."""
    return date(today.year, today.month, 1), datetime(today.year, today.month, today.day,
                                                      tzinfo=UTC)


def builtin_path(settings: Settings, connector: str, path: str, now: datetime) -> str:
    """``path`` = "builtin:NAME" of a connector that ships sample NAME: the folder of
    today's generated copy (written on first use); any other path as it is."""
    if not path.startswith(BUILTIN):
        return path
    name = path.removeprefix(BUILTIN)
    samples = samples_of(connector)
    if samples is None or name not in samples.names:
        return path
    end, as_of = run_moment(now.date())
    target = settings.resolve(f".saasync/{name}") / as_of.date().isoformat()
    if not (target / "invoices.csv").exists():
        samples.write(name, target, end=end, as_of=as_of)
    return str(target)
