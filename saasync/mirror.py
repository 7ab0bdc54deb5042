"""The source mirror: the latest normalized version of every record, per customer.

Why: the subscription builder needs a customer's whole history, but an incremental run
reads only what changed. Also the canonical content hash both sides of a diff use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from saasync.models import Customer, Invoice, Plan, SourceRecord, SourceSubscription
from saasync.rules.builder import CustomerHistory
from saasync.state import StateStore

KIND_OF: dict[type, str] = {
    Customer: "customer",
    Plan: "plan",
    Invoice: "invoice",
    SourceSubscription: "subscription",
}
MODEL_OF: dict[str, type[SourceRecord]] = {v: k for k, v in KIND_OF.items()}
VOIDED_HASH = "voided"


def content_hash(doc: Any) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def destination_doc(record: Customer | Plan) -> dict[str, Any]:
    """What the destination holds of a customer or plan: when the source last touched it
    is not part of it, so a new ``updated_at`` alone never causes an update."""
    return record.model_dump(mode="json", exclude={"updated_at"})


def customer_of(record: SourceRecord) -> str | None:
    if isinstance(record, Customer):
        return record.external_id
    if isinstance(record, (Invoice, SourceSubscription)):
        return record.customer_external_id
    return None


@dataclass
class Mirror:
    """The state's source mirror, with this run's records laid over it (writes kept in memory)."""

    state: StateStore
    connection: str
    # this run's records, by customer (plans under ""): read once, never searched linearly
    overlay: dict[str, list[SourceRecord]] = field(default_factory=dict)
    # a full read returned everything the source holds: nothing older needs loading
    complete: bool = False

    def put(self, records: Iterable[SourceRecord]) -> None:
        for record in records:
            self.overlay.setdefault(customer_of(record) or "", []).append(record)

    def plans(self) -> dict[str, Plan]:
        plans = {} if self.complete else {
            p.external_id: p
            for p in (Plan.model_validate_json(doc) for doc in self.state.mirror_all(self.connection, "plan"))
        }
        plans.update((r.external_id, r) for r in self.overlay.get("", []) if isinstance(r, Plan))
        return plans

    def history(self, customer_id: str) -> CustomerHistory:
        stored: list[SourceRecord] = [] if self.complete else [
            MODEL_OF[kind].model_validate_json(doc)
            for kind, doc in self.state.mirror_for_customer(self.connection, customer_id)
        ]
        return CustomerHistory(customer_id).merge([*stored, *self.overlay.get(customer_id, ())])
