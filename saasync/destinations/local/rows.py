"""Typed rows the local store hands out, each with its ChartMogul-shaped ``doc()``.

The future ``saasync serve`` answers HTTP requests with these ``doc()``s, so they follow
the field names of ChartMogul's responses (docs/chartmogul.md); the rules get the plain
records (``Customer``, ``Plan``, ``OutInvoice``) inside them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saasync.destinations.local.schema import api_time, from_text, from_text_required
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction


@dataclass(frozen=True)
class DataSourceInfo:
    id: int
    uuid: str
    name: str
    created_at: datetime

    def doc(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "system": "Import API",
            "created_at": api_time(self.created_at),
            "status": "idle",
        }


@dataclass(frozen=True)
class StoredCustomer:
    id: int
    uuid: str
    data_source_uuid: str
    customer: Customer

    @property
    def external_id(self) -> str:
        return self.customer.external_id

    def doc(self) -> dict[str, Any]:
        c = self.customer
        return {
            "id": self.id,
            "uuid": self.uuid,
            "external_id": c.external_id,
            "data_source_uuid": self.data_source_uuid,
            "data_source_uuids": [self.data_source_uuid],
            "external_ids": [c.external_id],
            "name": c.name,
            "email": c.email or "",
            "company": c.company or "",
            "country": c.country,
            "lead_created_at": api_time(c.created_at),
        }


@dataclass(frozen=True)
class StoredPlan:
    id: int
    uuid: str
    data_source_uuid: str
    plan: Plan

    @property
    def external_id(self) -> str:
        return self.plan.external_id

    def doc(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "data_source_uuid": self.data_source_uuid,
            "external_id": self.plan.external_id,
            "name": self.plan.name,
            "interval_count": self.plan.interval_count,
            "interval_unit": self.plan.interval_unit,
        }


@dataclass(frozen=True)
class StoredLineIds:
    """The destination ids of one stored line (its content is in the ``OutInvoice``)."""

    uuid: str
    subscription_uuid: str | None
    plan_uuid: str | None


@dataclass(frozen=True)
class StoredInvoice:
    id: int
    uuid: str
    data_source_uuid: str
    customer_uuid: str
    status: str  # open | paid | voided
    invoice: OutInvoice
    line_ids: tuple[StoredLineIds, ...]
    transaction_uuids: tuple[str, ...]

    @property
    def external_id(self) -> str:
        return self.invoice.external_id

    def doc(self) -> dict[str, Any]:
        """The invoice as ChartMogul's list and retrieve endpoints show it (§5.1, §5.3)."""
        inv = self.invoice
        lines: list[dict[str, Any]] = []
        for line, ids in zip(inv.lines, self.line_ids, strict=True):
            out: dict[str, Any] = {
                "uuid": ids.uuid,
                "external_id": line.external_id,
                "type": line.kind,
                "amount_in_cents": line.amount,
                "quantity": line.quantity,
                "discount_amount_in_cents": line.discount_amount,
                "tax_amount_in_cents": line.tax_amount,
                "description": line.description,
            }
            if line.kind == "subscription":
                out.update(
                    subscription_uuid=ids.subscription_uuid,
                    subscription_external_id=line.subscription_external_id,
                    plan_uuid=ids.plan_uuid,
                    service_period_start=api_time(line.service_period_start),
                    service_period_end=api_time(line.service_period_end),
                    prorated=line.prorated,
                )
            elif ids.plan_uuid is not None:
                out["plan_uuid"] = ids.plan_uuid
            lines.append(out)
        transactions = [
            {
                "uuid": uuid,
                "external_id": t.external_id,
                "type": t.type,
                "result": t.result,
                "date": api_time(t.date),
                "amount_in_cents": t.amount,
            }
            for t, uuid in zip(inv.transactions, self.transaction_uuids, strict=True)
        ]
        return {
            "uuid": self.uuid,
            "external_id": inv.external_id,
            "customer_uuid": self.customer_uuid,
            "customer_external_id": inv.customer_external_id,
            "data_source_uuid": self.data_source_uuid,
            "date": api_time(inv.date),
            "due_date": api_time(inv.due_date),
            "currency": inv.currency,
            "status": self.status,
            "line_items": lines,
            "transactions": transactions,
        }


@dataclass(frozen=True)
class StoredSubscription:
    id: int
    uuid: str
    data_source_uuid: str
    external_id: str
    customer_uuid: str
    customer_external_id: str
    plan_uuid: str | None
    plan_external_id: str | None
    cancellation_dates: tuple[datetime, ...]

    def doc(self) -> dict[str, Any]:
        """The import view of a subscription (§6.2, §6.3)."""
        return {
            "uuid": self.uuid,
            "external_id": self.external_id,
            "customer_uuid": self.customer_uuid,
            "plan_uuid": self.plan_uuid,
            "data_source_uuid": self.data_source_uuid,
            "cancellation_dates": [api_time(d) for d in self.cancellation_dates],
        }


def line_from_row(row: sqlite3.Row) -> OutLine:
    return OutLine(
        kind=row["type"],
        amount=row["amount_in_cents"],
        discount_amount=row["discount_amount_in_cents"],
        tax_amount=row["tax_amount_in_cents"],
        quantity=row["quantity"],
        external_id=row["external_id"],
        subscription_external_id=row["sub_ext"],
        plan_external_id=row["plan_ext"],
        service_period_start=from_text(row["service_period_start"]),
        service_period_end=from_text(row["service_period_end"]),
        prorated=bool(row["prorated"]),
        description=row["description"],
    )


def transaction_from_row(row: sqlite3.Row) -> OutTransaction:
    return OutTransaction(
        type=row["type"],
        result=row["result"],
        date=from_text_required(row["date"]),
        amount=row["amount_in_cents"],
        external_id=row["external_id"],
    )


def stored_invoice_from_rows(
    ds: DataSourceInfo,
    head: sqlite3.Row,
    line_rows: Sequence[sqlite3.Row],
    tr_rows: Sequence[sqlite3.Row],
) -> StoredInvoice:
    """An invoice read back: it compares equal to the ``OutInvoice`` that was imported."""
    invoice = OutInvoice(
        external_id=head["external_id"],
        customer_external_id=head["customer_external_id"],
        date=from_text_required(head["date"]),
        currency=head["currency"],
        lines=tuple(line_from_row(r) for r in line_rows),
        transactions=tuple(transaction_from_row(r) for r in tr_rows),
        due_date=from_text(head["due_date"]),
    )
    return StoredInvoice(
        id=head["id"],
        uuid=head["uuid"],
        data_source_uuid=ds.uuid,
        customer_uuid=head["customer_uuid"],
        status=head["status"],
        invoice=invoice,
        line_ids=tuple(StoredLineIds(r["uuid"], r["sub_uuid"], r["plan_uuid"]) for r in line_rows),
        transaction_uuids=tuple(r["uuid"] for r in tr_rows),
    )
