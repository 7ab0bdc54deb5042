"""QuickBooks Online JSON → normalized records: customers, invoices with their payments.

QBO has no invoice status and no subscriptions. The status is derived from ``Balance``
and ``TotalAmt`` (table in BEHAVIOR.md); lines are classified by the user's item
mappings (``saasync_connectors.accounting``). Money is decimal in major units, converted with
the currency's ISO 4217 exponent. Nothing vendor-shaped leaves this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from saasync.kit.records import MappingError
from saasync.models import Customer, Invoice, InvoiceStatus, to_utc
from saasync.money import currency_exponent
from saasync.reasons import Reason
from saasync.rules.discounts import allocate

from ..accounting.items import ItemRules
from ..accounting.lines import InvoiceFrame, SourceLine, build_lines
from ..accounting.records import (
    currency_code,
    decimal,
    minor,
    objects,
    parse,
    quantity,
)

VENDOR = "QuickBooks"
#: Line detail types that carry no charge of their own: skipped.
_NO_CHARGE = ("SubTotalLineDetail", "DescriptionOnly", "DescriptionLineDetail")


def ref(raw: Mapping[str, Any], key: str, part: str = "value") -> str | None:
    """``raw[key][part]`` of a QBO reference (``{"value": "24", "name": "…"}``), stripped."""
    value = raw.get(key)
    if isinstance(value, Mapping) and value.get(part) not in (None, ""):
        return str(value[part]).strip()
    return None


def when(raw: Mapping[str, Any], *path: str) -> datetime | None:
    """A QBO date (``"2026-01-15"``, read as midnight UTC) or datetime (with its offset)."""
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    result = to_utc(value)
    return result if isinstance(result, datetime) else None


def _when(raw: Mapping[str, Any], kind: str, ext_id: str | None, *path: str) -> datetime | None:
    try:
        return when(raw, *path)
    except ValueError as exc:
        raise MappingError(kind, ext_id, ".".join(path), str(exc)) from None


def to_customer(raw: Mapping[str, Any]) -> Customer:
    ext_id = str(raw.get("Id") or "") or None
    email = raw.get("PrimaryEmailAddr")
    address = raw.get("BillAddr")
    data: dict[str, Any] = {
        "external_id": ext_id,
        "name": raw.get("DisplayName") or raw.get("FullyQualifiedName") or "",
        "email": email.get("Address") if isinstance(email, Mapping) else None,
        "company": raw.get("CompanyName"),
        "country": address.get("Country") if isinstance(address, Mapping) else None,
        "created_at": _when(raw, "customer", ext_id, "MetaData", "CreateTime"),
        "updated_at": _when(raw, "customer", ext_id, "MetaData", "LastUpdatedTime"),
    }
    return parse(Customer, {k: v for k, v in data.items() if v not in (None, "")})


def derive_status(raw: Mapping[str, Any], ext_id: str | None) -> tuple[InvoiceStatus, str]:
    """(status, a description of how it was derived, kept as ``source_status``)."""
    for name in ("Balance", "TotalAmt"):
        if raw.get(name) is None:
            raise MappingError("invoice", ext_id, name, f"{name} is missing: the status cannot be "
                               "derived", reason=Reason.UNKNOWN_STATUS)
    balance = decimal(raw["Balance"], "invoice", ext_id, "Balance")
    total = decimal(raw["TotalAmt"], "invoice", ext_id, "TotalAmt")
    if balance < 0 or total < 0 or balance > total:
        raise MappingError("invoice", ext_id, "Balance",
                           f"Balance {balance} with TotalAmt {total} fits no rule of the derived "
                           "status table (see BEHAVIOR.md)", reason=Reason.UNKNOWN_STATUS)
    if balance > 0:
        return InvoiceStatus.OPEN, f"Balance {balance} > 0"
    if total > 0:
        return InvoiceStatus.PAID, "Balance 0, TotalAmt > 0"
    if str(raw.get("PrivateNote") or "").strip().lower().startswith("voided"):
        return InvoiceStatus.VOID, "TotalAmt 0, PrivateNote Voided"
    return InvoiceStatus.PAID, "Balance 0, TotalAmt 0"


def _sales_line(index: int, line: Mapping[str, Any], currency: str, ext_id: str | None,
                invoice_id: str) -> tuple[SourceLine, str | None, int | None]:
    """A sales line with its net amount; also its tax code and tax-inclusive amount."""
    detail = line.get("SalesItemLineDetail")
    if not isinstance(detail, Mapping):
        raise MappingError("invoice", ext_id, f"lines.{index}.SalesItemLineDetail", "missing")
    item_id, item_name = ref(detail, "ItemRef"), ref(detail, "ItemRef", "name")
    codes = tuple(dict.fromkeys(c for c in (item_id, item_name) if c))
    net = minor(line.get("Amount", 0), currency, "invoice", ext_id, f"lines.{index}.Amount")
    inclusive = detail.get("TaxInclusiveAmt")
    gross = None if inclusive is None else minor(inclusive, currency, "invoice", ext_id,
                                                 f"lines.{index}.TaxInclusiveAmt")
    source = SourceLine(
        index=index, codes=codes, amount=net, quantity=quantity(detail.get("Qty")),
        discount=_line_discount(detail, net, currency, ext_id, f"lines.{index}"),
        description=line.get("Description"), item_name=item_name,
        external_id=f"{invoice_id}:{line['Id']}" if line.get("Id") else None,
        service_date=_when(detail, "invoice", ext_id, "ServiceDate"),
    )
    return source, ref(detail, "TaxCodeRef"), gross


def _line_discount(detail: Mapping[str, Any], net: int, currency: str, ext_id: str | None,
                   field: str) -> int:
    """A line's own discount where the region has them (``DiscountAmt``/``DiscountRate``);
    ``Amount`` is already net of it."""
    if detail.get("DiscountAmt") is not None:
        return minor(detail["DiscountAmt"], currency, "invoice", ext_id, f"{field}.DiscountAmt",
                     rounded=True)
    if detail.get("DiscountRate") is not None and detail.get("UnitPrice") is not None:
        gross = decimal(detail.get("Qty", 1), "invoice", ext_id, f"{field}.Qty") * \
            decimal(detail["UnitPrice"], "invoice", ext_id, f"{field}.UnitPrice")
        return max(minor(gross, currency, "invoice", ext_id, f"{field}.UnitPrice",
                         rounded=True) - net, 0)
    return 0


def invoice_lines(raw: Mapping[str, Any], currency: str,
                  ext_id: str) -> tuple[list[SourceLine], int]:
    """Charge lines with tax included, and the invoice-level discount (DiscountLineDetail)."""
    sales: list[tuple[SourceLine, str | None, int | None]] = []
    discount = 0
    for index, line in enumerate(objects(raw.get("Line"), "invoice", ext_id, "Line")):
        kind = line.get("DetailType")
        if kind == "SalesItemLineDetail":
            sales.append(_sales_line(index, line, currency, ext_id, ext_id))
        elif kind == "GroupLineDetail":  # a bundle: its member lines are the charges
            group = line.get("GroupLineDetail")
            group = group if isinstance(group, Mapping) else {}
            for member in objects(group.get("Line"), "invoice", ext_id,
                                  f"Line.{index}.GroupLineDetail.Line"):
                if member.get("DetailType") == "SalesItemLineDetail":
                    sales.append(_sales_line(index, member, currency, ext_id, ext_id))
        elif kind == "DiscountLineDetail":
            discount += minor(line.get("Amount", 0), currency, "invoice", ext_id,
                              f"lines.{index}.Amount")
        elif kind not in _NO_CHARGE:
            raise MappingError("invoice", ext_id, f"lines.{index}.DetailType",
                               f"unknown line type {kind!r}")
    taxes = _line_taxes(raw, sales, currency, ext_id)
    lines = [replace(source, amount=source.amount + tax, tax=tax)
             for (source, _, _), tax in zip(sales, taxes, strict=True)]
    return lines, discount


def _line_taxes(raw: Mapping[str, Any], sales: Sequence[tuple[SourceLine, str | None, int | None]],
                currency: str, ext_id: str) -> list[int]:
    """Each line's tax. QBO states tax per invoice (``TxnTaxDetail.TotalTax``) except on
    tax-inclusive lines with ``TaxInclusiveAmt``. Only lines QuickBooks taxed carry tax: a
    line with a tax code other than ``NON``; a line with no ``TaxCodeRef`` (shipping, say)
    or ``NON`` was not taxed. The total is shared over the taxed lines in proportion to
    their amounts, to the exact cent, after checking that they are the base QuickBooks
    taxed (``TaxLine[].TaxLineDetail.NetAmountTaxable``). Tax that cannot be placed
    quarantines the invoice (INVALID_RECORD) rather than landing on untaxed lines."""
    mode = raw.get("GlobalTaxCalculation")
    if mode == "NotApplicable" or not sales:
        return [0] * len(sales)
    if mode == "TaxInclusive" and all(gross is not None for _, _, gross in sales):
        return [(gross or 0) - source.amount for source, _, gross in sales]
    detail = raw.get("TxnTaxDetail")
    if detail is not None and not isinstance(detail, Mapping):
        raise MappingError("invoice", ext_id, "TxnTaxDetail",
                           f"QuickBooks invoice {ext_id}: TxnTaxDetail is not an object")
    total = detail.get("TotalTax") if isinstance(detail, Mapping) else None
    total_tax = 0 if total is None else minor(total, currency, "invoice", ext_id,
                                              "TxnTaxDetail.TotalTax")
    if total_tax == 0:
        return [0] * len(sales)
    weights = [source.amount if code not in (None, "NON") else 0 for source, code, _ in sales]
    if not any(w > 0 for w in weights):
        raise MappingError("invoice", ext_id, "TxnTaxDetail.TotalTax",
                           f"QuickBooks invoice {ext_id}: TotalTax {total} but no line has a "
                           "taxable TaxCodeRef; the tax cannot be placed on a line")
    _check_taxable_base(raw, detail, sum(weights), currency, ext_id)
    return allocate(total_tax, weights)


def _check_taxable_base(raw: Mapping[str, Any], detail: Any, taxed: int, currency: str,
                        ext_id: str) -> None:
    """The taxed lines must be what QuickBooks taxed: ``NetAmountTaxable`` is their sum
    (one tax line per rate on the same base, as US combined rates, or one per rate over
    different lines, so their sum). With ``ApplyTaxAfterDiscount`` the base may be lower
    by the invoice discount. Without tax lines there is nothing to check."""
    tax_lines = detail.get("TaxLine") if isinstance(detail, Mapping) else None
    if not isinstance(tax_lines, list):
        return
    bases: list[int] = []
    for index, line in enumerate(tax_lines):
        info = line.get("TaxLineDetail") if isinstance(line, Mapping) else None
        if isinstance(info, Mapping) and info.get("NetAmountTaxable") is not None:
            bases.append(minor(info["NetAmountTaxable"], currency, "invoice", ext_id,
                               f"TxnTaxDetail.TaxLine.{index}.TaxLineDetail.NetAmountTaxable"))
    if not bases:
        return
    candidates = {max(bases), sum(bases)}
    if taxed in candidates:
        return
    if raw.get("ApplyTaxAfterDiscount") is True and any(0 <= taxed - c for c in candidates):
        return  # the discount came off the base first: the base is at most the lines
    exponent = currency_exponent(currency)

    def shown(amount: int) -> str:
        return str(Decimal(amount).scaleb(-exponent))

    raise MappingError(
        "invoice", ext_id, "TxnTaxDetail.TaxLine.NetAmountTaxable",
        f"QuickBooks invoice {ext_id}: NetAmountTaxable ({', '.join(map(shown, bases))}) does "
        f"not match the lines with a taxable TaxCodeRef ({shown(taxed)}); the tax cannot be "
        "placed on its lines")


def payments_for(invoice_id: str, payments: Sequence[Mapping[str, Any]], currency: str,
                 ext_id: str) -> list[dict[str, Any]]:
    """This invoice's share of each Payment: cash as a payment, applied credit memos as a
    refund. QBO applies a credit memo through a Payment whose lines link both the invoice
    and the CreditMemo; the credit is used on the payment's invoices in line order."""
    out: list[dict[str, Any]] = []
    for payment in payments:
        pid = str(payment.get("Id"))
        lines = payment.get("Line") or []
        credit = sum(minor(line.get("Amount", 0), currency, "invoice", ext_id,
                           f"transactions.{pid}.Amount")
                     for line in lines if _links(line, "CreditMemo"))
        date = _when(payment, "invoice", ext_id, "TxnDate")
        for line in lines:
            targets = _links(line, "Invoice")
            if not targets:
                continue
            amount = minor(line.get("Amount", 0), currency, "invoice", ext_id,
                           f"transactions.{pid}.Amount")
            from_credit = min(credit, amount)
            credit -= from_credit
            if invoice_id not in targets:
                continue
            if amount - from_credit > 0:
                out.append({"external_id": f"payment:{pid}", "type": "payment",
                            "result": "successful", "date": date, "amount": amount - from_credit})
            if from_credit > 0:
                out.append({"external_id": f"credit:{pid}", "type": "refund",
                            "result": "successful", "date": date, "amount": from_credit})
    return out


def _deposit(raw: Mapping[str, Any], currency: str, ext_id: str,
             issued_at: datetime) -> list[dict[str, Any]]:
    """A deposit taken when the invoice was written is money received: a payment."""
    amount = minor(raw.get("Deposit") or 0, currency, "invoice", ext_id, "Deposit")
    if amount <= 0:
        return []
    return [{"external_id": f"deposit:{ext_id}", "type": "payment", "result": "successful",
             "date": issued_at, "amount": amount}]


def _links(line: Mapping[str, Any], txn_type: str) -> list[str]:
    return [str(t.get("TxnId")) for t in line.get("LinkedTxn") or []
            if isinstance(t, Mapping) and t.get("TxnType") == txn_type]


def linked_payment_ids(raw: Mapping[str, Any]) -> list[str]:
    """Ids of the Payments the invoice lists in ``LinkedTxn``."""
    return [str(t.get("TxnId")) for t in raw.get("LinkedTxn") or []
            if isinstance(t, Mapping) and t.get("TxnType") == "Payment" and t.get("TxnId")]


def to_invoice(raw: Mapping[str, Any], payments: Sequence[Mapping[str, Any]], rules: ItemRules,
               *, day_first: bool, home_currency: str | None) -> Invoice:
    """An Invoice with its payments; MappingError names the field (or the unmapped item)."""
    ext_id = str(raw.get("Id") or "")
    if not ext_id:
        raise MappingError("invoice", None, "Id", "the invoice has no Id")
    currency = currency_code(ref(raw, "CurrencyRef") or home_currency, "invoice", ext_id,
                             "CurrencyRef")
    status, derived = derive_status(raw, ext_id)
    customer = ref(raw, "CustomerRef")
    issued_at = _when(raw, "invoice", ext_id, "TxnDate")
    if customer is None or issued_at is None:
        field = "CustomerRef" if customer is None else "TxnDate"
        raise MappingError("invoice", ext_id, field, f"{field} is required")
    lines, discount = invoice_lines(raw, currency, ext_id)
    frame = InvoiceFrame(VENDOR, ext_id, raw.get("DocNumber"), customer, issued_at, status)
    data: dict[str, Any] = {
        "external_id": ext_id, "customer_external_id": customer, "issued_at": issued_at,
        "due_at": _when(raw, "invoice", ext_id, "DueDate"), "currency": currency,
        "status": status, "source_status": derived,
        "lines": build_lines(frame, lines, rules, day_first=day_first),
        "transactions": _deposit(raw, currency, ext_id, issued_at)
        + payments_for(ext_id, payments, currency, ext_id),
        "discount_amount": discount,
        "updated_at": _when(raw, "invoice", ext_id, "MetaData", "LastUpdatedTime"),
    }
    if not data["lines"]:
        raise MappingError("invoice", ext_id, "lines", "the invoice has no charge line")
    return parse(Invoice, data)


def summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the review queue keeps of a quarantined invoice: enough to place and find it."""
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else value

    return {"invoice": raw.get("DocNumber"), "customer_external_id": ref(raw, "CustomerRef"),
            "issued_at": raw.get("TxnDate"), "updated_at": (raw.get("MetaData") or {}).get(
                "LastUpdatedTime"), "currency": ref(raw, "CurrencyRef"),
            "Balance": plain(raw.get("Balance")), "TotalAmt": plain(raw.get("TotalAmt"))}
