"""Bulk imports that ChartMogul accepted but no run settled: kept across a crash.

A bulk import is processed by ChartMogul after it answered the POST. A run that dies
while one is queued or processing would, on its next run, send the same records again,
and the two imports could touch the same customers in either order. So the import's id
and what it carries (its *manifest*: the external ids, and the content hash each record
was planned with) are written to the state file as soon as ChartMogul accepted it
(``journal``), and the entry is removed in the same commit as the pushed-map entries its
results give. The next run, before it reads or sends anything, polls each import left
(``settle_in_flight``) and records its accepted records in the pushed map as the live
path would; a refused record is not recorded, so its customer (still dirty) is planned
and sent again. The run report lists the imports settled this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

from saasync.state import StateStore

log = structlog.get_logger("saasync.engine")

#: the kinds a bulk import carries as records (cancellations are applied per subscription)
KINDS = ("plan", "customer", "invoice")


def hashes_for(found: Mapping[str, Any], planned: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """``"kind:external_id" -> content hash`` for every record of a manifest that was
    planned (``planned``: ``(kind, external_id) -> hash``)."""
    keys = [("plan", str(ext)) for ext in found.get("plans") or ()]
    for customer, entry in (found.get("customers") or {}).items():
        if entry.get("customer"):
            keys.append(("customer", str(customer)))
        keys += [("invoice", str(ext)) for ext in entry.get("invoices") or ()]
    return {f"{kind}:{ext}": planned[(kind, ext)] for kind, ext in keys if (kind, ext) in planned}


def journal(state: StateStore, connection: str,
            planned: Callable[[], Mapping[tuple[str, str], str]]
            ) -> Callable[[str, str, dict[str, Any]], None]:
    """What a bulk importer calls when ChartMogul accepted an import (``watch``)."""

    def accepted(import_id: str, data_source_uuid: str, found: dict[str, Any]) -> None:
        state.record_import(connection, import_id, data_source_uuid,
                            {**found, "hashes": hashes_for(found, planned())})

    return accepted


def apply(state: StateStore, connection: str, found: Mapping[str, Any],
          results: Iterable[Any]) -> tuple[int, int]:
    """Record the accepted records of a settled import in the pushed map, as the live path
    does; ``(accepted, refused)``."""
    hashes: Mapping[str, str] = found.get("hashes") or {}
    accepted = refused = 0
    for result in results:
        key = f"{result.kind}:{result.external_id}"
        if result.kind not in KINDS or key not in hashes:
            continue
        if result.error is None:
            state.record_pushed(connection, result.kind, result.external_id, None, hashes[key])
            accepted += 1
        else:
            refused += 1
    return accepted, refused


def settle_in_flight(state: StateStore, connection: str, destination: Any) -> list[dict[str, Any]]:
    """Settle every import a dead run of ``connection`` left; what the run report lists."""
    left = state.imports_in_flight(connection)
    settle = getattr(destination, "settle_import", None)
    if not left or not callable(settle):
        return []
    settled = []
    for import_id, data_source_uuid, found in left:
        results = settle(data_source_uuid, import_id, found)
        accepted, refused = apply(state, connection, found, results or ())
        state.forget_import(connection, import_id)
        state.flush()
        entry = {"import_id": import_id, "accepted": accepted, "refused": refused,
                 "known": results is not None}
        log.info("bulk import left in flight settled", connection=connection, **entry)
        settled.append(entry)
    return settled
