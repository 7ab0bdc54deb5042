"""Starter configs for ``saasync init`` and the option lists ``saasync connectors`` shows.

A new user has no ``config/example.toml`` (it is in the repository, not in the installed
package): ``saasync init`` writes a commented config for one connector instead, with every
option the connector takes and what it means. Secrets appear only as the names of the
environment variables that hold them. Every connector is described by what it declares
(its ``options_model``, or ``OPTIONS``: see :func:`declared_options`); the one-line
summaries of the built-in ones are here, by entry-point name.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from saasync.connector import OptionsListing, OptionsModelDeclaring
from saasync.connector_options import option_docs


@dataclass(frozen=True)
class OptionDoc:
    """One connector option: its name, what it means, and the TOML value the starter shows.

    ``active`` options are written as keys (required ones, and the names of the
    variables holding secrets); the others are written commented out, at their default.
    """

    name: str
    meaning: str
    value: str = ""  # a TOML literal; "" when the option has no useful example value
    active: bool = False


#: What each built-in connector reads, in one line.
SUMMARIES: dict[str, str] = {
    "files": "CSV or JSON Lines exports of customers, plans, subscriptions, invoices, lines "
             "and payments",
    "stripe": "the Stripe API: prices, customers, subscriptions, invoices, credit notes, events",
    "chargebee": "the Chargebee API v2: plans or item prices, customers, subscriptions, "
                 "invoices, credit notes",
    "recurly": "the Recurly API v3: plans, accounts, subscriptions, invoices, refunds",
    "gaiia": "the gaiia GraphQL API: products, ISP accounts with their statuses, billing "
             "subscriptions, invoices",
    "quickbooks": "QuickBooks Online: customers, invoices and payments; plans from your item "
                  "mappings",
    "xero": "Xero: contacts, sales invoices, payments and credit notes; plans from your item "
            "mappings and repeating invoices",
}

DESTINATIONS = ("local", "chartmogul")


def declared_options(name: str, factory: Any) -> list[OptionDoc]:
    """The options of a connector: its ``options_model`` (a pydantic model: each field's
    description and example; every built-in connector declares one); otherwise what the
    class (or its module) declares as ``OPTIONS``: option names, or a mapping of option name
    to meaning. A connector that declares nothing has no options listed."""
    model = factory.options_model if isinstance(factory, OptionsModelDeclaring) else None
    if isinstance(model, type) and issubclass(model, BaseModel):  # a plug-in may declare anything
        return [OptionDoc(*doc) for doc in option_docs(model)]
    module = sys.modules.get(getattr(factory, "__module__", ""))
    lister = next((x for x in (factory, module) if isinstance(x, OptionsListing)), None)
    declared = lister.OPTIONS if lister is not None else None
    if isinstance(declared, Mapping):
        return [OptionDoc(str(k), str(v)) for k, v in declared.items()]
    if isinstance(declared, Iterable) and not isinstance(declared, str | bytes):
        return [OptionDoc(str(k), "") for k in declared]
    return []


def _comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, 86 - len(indent))]


def _option_lines(option: OptionDoc) -> list[str]:
    lines = _comment(option.meaning) if option.meaning else []
    value = option.value or '""'
    lines.append(f"{option.name} = {value}" if option.active else f"# {option.name} = {value}")
    return lines


def _destination_lines(table: str, destination: str, connection: str) -> list[str]:
    if destination == "local":
        return [
            f"[{table}.destination]",
            '# the embedded analytics store (SQLite): `saasync metrics`, `reconcile` and',
            "# `explain` read it",
            'type = "local"',
            'path = ".saasync/analytics.db"',
            f'data_source = "{connection}"',
        ]
    return [
        f"[{table}.destination]",
        'type = "chartmogul"',
        "# the variable holding the ChartMogul API key (the key never goes in this file)",
        'api_key_env = "CHARTMOGUL_API_KEY"',
        "# the ChartMogul data source to fill: found by name, created if missing",
        f'data_source = "{connection}"',
        '# "auto": a backfill or first sync with more than bulk_threshold objects (plans,',
        '# customers, new invoices) goes as json_imports jobs, the rest one customer at a',
        '# time; "per_customer" or "bulk" forces one',
        'import_mode = "auto"',
        "# bulk_threshold = 100",
        "# the API root; to rehearse without an account run `saasync serve --port 8040`",
        '# and use base_url = "http://127.0.0.1:8040/v1"',
        '# base_url = "https://api.chartmogul.com/v1"',
        "# client-side pace and parallel requests (ChartMogul allows 40/s and 20)",
        "# requests_per_second = 38.0",
        "# max_concurrency = 20",
    ]


def render_config(connector: str, destination: str, options: Iterable[OptionDoc],
                  *, summary: str = "") -> str:
    """A commented starter config: one connection named after the connector."""
    if destination not in DESTINATIONS:
        raise ValueError(f"destination must be one of {', '.join(DESTINATIONS)}")
    name = connector if connector.isidentifier() else "billing"
    table = f"connections.{name}"
    lines = [
        f"# saasync configuration: {connector} -> {destination}. Written by `saasync init`.",
        "# Paths are relative to this file. Secrets are never written here: an option ending",
        "# in _env names the environment variable that holds the secret.",
        "# `saasync connectors` lists each connector's options; `saasync COMMAND --help` the",
        "# options of each command.",
        "",
        "# cursors, source mirror, what was pushed, run history, review queue, locks (SQLite)",
        'state = ".saasync/state.db"',
        "",
        f"[{table}]",
        *_comment("the connector (`saasync connectors` lists the installed ones)"
                  + (f": {summary}" if summary else "")),
        f'connector = "{connector}"',
        '# "exclude": hold unpaid invoices back until paid; "include": send them unpaid',
        'open_invoices = "exclude"',
        "# days after a paid period ends before analytics calls the subscription Past-Due",
        "grace_days = 0",
        "# incremental runs re-read this many hours before the stored cursor",
        "lookback_hours = 24",
        "# cron expression for `saasync schedule` and Celery beat; a random start delay; and",
        "# the lag after which `saasync status --check` calls the connection late",
        '# schedule = "*/15 * * * *"',
        "# jitter_seconds = 30",
        "# max_lag_minutes = 45",
        "# sources without subscriptions (accounting, plain exports): churn a subscription",
        "# whose last paid period ended this many days ago with no later invoice (off: unset)",
        "# auto_churn_days = 30",
        "",
        f"[{table}.options]",
        *_comment(f"the {connector} connector's options"),
    ]
    for option in options:
        lines += _option_lines(option)
    lines += ["", *_destination_lines(table, destination, name), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class ConnectorInfo:
    """An installed connector as ``saasync connectors`` shows it. ``error`` is set when the
    plug-in failed to load: it is listed as broken, and the others still work."""

    name: str
    target: str  # "module:Class", as the entry point names it
    distribution: str | None
    version: str | None
    builtin: bool
    summary: str = ""
    options: tuple[OptionDoc, ...] = ()
    behavior: str | None = None  # the installed BEHAVIOR.md beside the connector's module
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "entry_point": self.target, "distribution": self.distribution,
            "version": self.version, "builtin": self.builtin,
            "status": "broken" if self.error else "ok", "error": self.error,
            "summary": self.summary, "behavior": self.behavior,
            "options": [{"name": o.name, "meaning": o.meaning} for o in self.options],
        }  # fmt: skip


def _behavior_file(factory: Any) -> str | None:
    module = sys.modules.get(getattr(factory, "__module__", ""))
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve().parent / "BEHAVIOR.md"
    return str(path) if path.is_file() else None


def installed_connectors() -> list[ConnectorInfo]:
    """Every connector registered under the entry-point group, each loaded to describe it;
    a plug-in that fails to load is returned with its error instead of raising."""
    from importlib.metadata import entry_points

    from saasync.connector import ENTRY_POINT_GROUP

    found: dict[str, ConnectorInfo] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:  # the same distribution seen twice on sys.path
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        builtin = dist_name == "saasync" and ep.value.startswith("saasync_connectors.")
        base = ConnectorInfo(ep.name, ep.value, dist_name, version, builtin)
        try:
            factory = ep.load()
        except Exception as exc:  # noqa: BLE001 (a broken plug-in is listed, never fatal)
            found[ep.name] = replace(base, error=f"{type(exc).__name__}: {exc}")
            continue
        doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
        summary = SUMMARIES.get(ep.name, "") if builtin else (doc[0] if doc else "")
        found[ep.name] = replace(base, summary=summary, behavior=_behavior_file(factory),
                                 options=tuple(declared_options(ep.name, factory)))
    return sorted(found.values(), key=lambda c: (not c.builtin, c.name))
