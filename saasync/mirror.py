"""The source mirror: the latest normalized version of every record, per customer.

Why: the subscription builder needs a customer's whole history, but an incremental run
reads only what changed. Also the canonical content hash both sides of a diff use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic_core import SchemaValidator

from saasync.kit.intset import IntSet
from saasync.models import (
    Customer,
    Invoice,
    Plan,
    SourceRecord,
    SourceSubscription,
)
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


_PYTHON_STEPS = frozenset({"function-before", "function-after", "function-wrap"})


def _python_step(node: dict[str, Any]) -> bool:
    kind = node.get("type")  # a field named "type" holds a dict here: only strings count
    return isinstance(kind, str) and kind in _PYTHON_STEPS and "schema" in node


def _without_python_checks(node: Any) -> Any:
    """A pydantic-core schema with every Python validator (before/after/wrap) removed."""
    if isinstance(node, dict):
        while isinstance(node, dict) and _python_step(node):
            node = node["schema"]
        return {key: _without_python_checks(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_python_checks(value) for value in node]
    return node


def _trusted_loader(model: type[SourceRecord]) -> SchemaValidator:
    """Loads what this program itself wrote (``model_dump_json`` of a validated record):
    the model's own public core schema, without the Python-level conversions and cross-field
    checks those documents already passed. Half the cost of ``model_validate_json``
    (``bench/mirror_reload.py``). Nested models (lines, transactions) are inlined in that
    schema, so their Python checks are skipped too (``tests/unit/test_fast_paths.py``)."""
    return SchemaValidator(_without_python_checks(model.__pydantic_core_schema__))


LOADERS: dict[str, SchemaValidator] = {kind: _trusted_loader(m) for kind, m in MODEL_OF.items()}


# ``json.dumps`` with these options builds an encoder per call; one serves them all
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def content_hash(doc: Any) -> str:
    text = _CANONICAL.encode(doc)
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


class ReadSet:
    """Which records this run read, in bounded memory: 8 to 16 bytes per record.

    Keys are 64-bit hashes in a flat open-addressing table (``IntSet``): a set of a million
    Python ints would take ~64 MB.
    """

    def __init__(self) -> None:
        self._keys = IntSet()
        self.customers: set[str] = set()  # customers touched by what was read
        self.plans: dict[str, Plan] = {}

    @staticmethod
    def _key(kind: str, external_id: str) -> int:
        # Python's own 64-bit string hash (SipHash): the set lives for one run in one
        # process, so its per-process seed does not matter, and it costs a tenth of blake2b.
        return hash((kind, external_id))

    def add(self, kind: str, external_id: str, customer: str | None) -> None:
        self._keys.add(self._key(kind, external_id))
        if customer is not None:
            self.customers.add(customer)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return self._key(*key) in self._keys

    def of(self, kind: str) -> KindView:
        return KindView(self, kind)

    def __len__(self) -> int:
        return len(self._keys)


class KnownRecords:
    """The records earlier runs read: the mirror's, and the review queue's (a quarantined row
    is never mirrored). ``(kind, external_id) in known``. Loaded on first use (a run over an
    unchanged source never asks), as 64-bit hashes: 8 to 16 bytes a record."""

    def __init__(self, state: StateStore, connection: str) -> None:
        self.state = state
        self.connection = connection
        self._keys: IntSet | None = None

    def _load(self) -> IntSet:
        keys = IntSet()
        for key in self.state.mirror_keys(self.connection):
            keys.add(hash(key))
        for item in self.state.review_items(self.connection):
            if item.external_id is not None:
                keys.add(hash((item.kind, item.external_id)))
        return keys

    def __contains__(self, key: object) -> bool:
        if self._keys is None:
            self._keys = self._load()
        return isinstance(key, tuple) and hash(key) in self._keys


@dataclass(frozen=True)
class KindView:
    """``external_id in read.of("invoice")``."""

    read: ReadSet
    kind: str

    def __contains__(self, external_id: object) -> bool:
        return isinstance(external_id, str) and (self.kind, external_id) in self.read


def record_row(record: SourceRecord) -> tuple[str, str, str | None, str, str]:
    """(kind, external id, customer, JSON doc, hash): one serialization serves both."""
    doc = record.model_dump_json()
    digest = hashlib.blake2b(doc.encode(), digest_size=16).hexdigest()
    return (KIND_OF[type(record)], record.external_id, customer_of(record), doc, digest)


@dataclass
class Mirror:
    """The state's source mirror; in a dry run, with this run's changes in a scratch overlay.

    Records are staged here as they are read and loaded back one customer at a time, so a
    run's memory does not grow with the size of the source.
    """

    state: StateStore
    connection: str
    overlay: StateStore | None = None  # dry run: a scratch store, deleted after the run

    def stage(self, records: list[SourceRecord], read: ReadSet, *,
              fresh: bool = False) -> list[str]:
        """Remember ``records`` as read; store those that changed. Returns their customers.
        ``fresh``: the mirror held nothing of the connection when the read began, so every
        record is new (or a repeat within this read) and none is looked up."""
        rows = [record_row(r) for r in records]
        changed: list[tuple[str, str, str | None, str, str]] = []
        by_kind: dict[str, list[tuple[str, str, str | None, str, str]]] = {}
        for row, record in zip(rows, records, strict=True):
            read.add(row[0], row[1], row[2])
            if isinstance(record, Plan):
                read.plans[record.external_id] = record
            by_kind.setdefault(row[0], []).append(row)
        for kind, group in by_kind.items():
            if fresh:
                changed.extend(group)
                continue
            known = self.state.mirror_hashes(self.connection, kind, (r[1] for r in group))
            changed.extend(r for r in group if known.get(r[1]) != r[4])
        target = self.overlay if self.overlay is not None else self.state
        target.save_mirror(self.connection, changed)
        return [r[2] for r in changed if r[2] is not None]

    def is_empty(self) -> bool:
        """Nothing of the connection is mirrored yet (in the state, or a dry run's overlay)."""
        return not any(store is not None and store.has_mirror(self.connection)
                       for store in (self.state, self.overlay))

    def plans(self) -> dict[str, Plan]:
        plans: dict[str, Plan] = {}
        for store in (self.state, self.overlay):
            if store is not None:
                for doc in store.mirror_all(self.connection, "plan"):
                    plan = Plan.model_validate_json(doc)
                    plans[plan.external_id] = plan
        return plans

    def history(self, customer_id: str) -> CustomerHistory:
        records: list[SourceRecord] = []
        for store in (self.state, self.overlay):
            if store is not None:
                records.extend(
                    LOADERS[kind].validate_json(doc)
                    for kind, doc in store.mirror_for_customer(self.connection, customer_id)
                )
        # what the destination holds is the real state's alone (a dry run writes none)
        effective = self.state.effective_cancellations(self.connection, customer_id)
        return CustomerHistory(customer_id, effective_cancellations=effective).merge(records)
