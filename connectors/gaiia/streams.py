"""gaiia's GraphQL reads: the query documents, Relay paging, one small class per stream.

Root connections page with ``first``/``after`` up to 250 a page. Nested connections
(an invoice's debits and credits) are asked for ``nested`` at a time and, when gaiia
says there is more, finished through ``invoice(id)`` with the same paging; a deeper
list that overflows (a debit's taxes) quarantines its invoice rather than drop a line.
``Account.invoices`` (at most 10 a page) is never used: invoices come from the root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import BadRecordError, FatalError
from saasync.http import HttpClient, RelayPaginator, paginate
from saasync.kit.records import MappingError
from saasync.models import SourceRecord, to_utc

from .mapping import (
    changed_since,
    dig,
    quarantined,
    stamp,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)

Item = SourceRecord | Quarantined
Raw = dict[str, Any]
PAGE_INFO = "pageInfo { hasNextPage endCursor }"

ACCOUNTS = f"""query SaasyncAccounts($first: Int!, $after: String) {{
  accounts(first: $first, after: $after) {{
    nodes {{
      id readableId name displayName createdAt updatedAt
      status {{ type name }}
      primaryContact {{ firstName lastName email }}
      physicalAddress {{ countryIso2 }}
      billingSettings {{ billingCycleEnabled currency updatedAt }}
    }}
    {PAGE_INFO}
  }}
}}"""

PRODUCTS = f"""query SaasyncProducts($first: Int!, $after: String) {{
  products(first: $first, after: $after) {{
    nodes {{ id name type isArchived createdAt updatedAt }}
    {PAGE_INFO}
  }}
}}"""

SUBSCRIPTIONS = f"""query SaasyncBillingSubscriptions($first: Int!, $after: String) {{
  billingSubscriptions(first: $first, after: $after) {{
    nodes {{
      id status assignedAt activatedAt startsAt suspendedAt unassignedAt unassignAt
      createdAt updatedAt
      entity {{ __typename id }}
      productVersion {{ id paymentStrategy product {{ id name type }} }}
    }}
    {PAGE_INFO}
  }}
}}"""

DEBIT = f"""fragment SaasyncDebit on Debit {{
  id quantity months proratedFrom proratedTo voidedAt
  subscription {{ id }}
  productVersion {{ id paymentStrategy product {{ id name type }} }}
  transaction {{
    id amount description
    taxTransactions(first: $nested) {{ nodes {{ taxAmount }} {PAGE_INFO} }}
  }}
  discounts(first: $nested) {{ nodes {{ id discountReason transaction {{ amount }} }} {PAGE_INFO} }}
}}"""

CREDIT = f"""fragment SaasyncCredit on Credit {{
  id creditableType totalAmount createdAt voidedAt
  transaction {{
    id
    payment {{
      id status paymentDateTime succeededAt
      refunds(first: $nested) {{
        nodes {{ id status transaction {{ id amount createdAt }} }}
        {PAGE_INFO}
      }}
    }}
  }}
}}"""

INVOICES = f"""query SaasyncInvoices($first: Int!, $after: String, $filter: InvoicesFilter,
    $nested: Int!) {{
  invoices(first: $first, after: $after, filter: $filter) {{
    nodes {{
      id invoiceNumber status billingReason currency createdAt updatedAt openedAt dueDate
      fromDate toDate total amountPaid totalTaxes
      totalDiscount {{ total totalItemLevel totalInvoiceLevel }}
      entity {{ __typename id }}
      debits(first: $nested) {{ nodes {{ ...SaasyncDebit }} {PAGE_INFO} }}
      credits(first: $nested) {{ nodes {{ ...SaasyncCredit }} {PAGE_INFO} }}
    }}
    {PAGE_INFO}
  }}
}}
{DEBIT}
{CREDIT}"""

# The rest of one invoice's nested list, from the cursor its first page ended on.
MORE = {
    name: f"""query SaasyncInvoice{name.title()}($id: GlobalID!, $first: Int!, $after: String,
    $nested: Int!) {{
  invoice(id: $id) {{ {name}(first: $first, after: $after) {{ nodes {{ ...{frag} }} {PAGE_INFO} }} }}
}}
{text}"""
    for name, frag, text in (("debits", "SaasyncDebit", DEBIT), ("credits", "SaasyncCredit", CREDIT))
}


def operation(query: str) -> str:
    """The operation name of a query document (its first word after ``query``)."""
    return query.split(None, 2)[1].split("(")[0]


def iso(moment: datetime) -> str:
    """A DateTime filter value: UTC, milliseconds, ``Z``."""
    aware: datetime = to_utc(moment)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GaiiaApi:
    """POSTs query documents to the one GraphQL endpoint and checks every answer.

    Throttling (HTTP 200 + ``RATE_LIMITED``) is retried inside saasync.http by the
    connector's classifier; any other GraphQL error stops the run naming the query, since
    data that came with errors may be partial.
    """

    def __init__(self, client: HttpClient, page_size: int, nested: int) -> None:
        self.client = client
        self.page_size = page_size
        self.nested = nested

    def request_json(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                     json: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """The JsonRequester that :func:`saasync.http.paginate` drives."""
        name = json.get("operationName", "?") if isinstance(json, dict) else "?"
        try:
            page = self.client.request_json(method, path_or_url, params=params, json=json,
                                            headers=headers)
        except BadRecordError as exc:
            raise FatalError(f"gaiia query {name} was refused (HTTP {exc.status}): "
                             f"{_messages(exc.body) or exc}") from None
        if not isinstance(page, dict):
            raise FatalError(f"gaiia query {name}: the answer is not a JSON object")
        if page.get("errors"):
            raise FatalError(f"gaiia query {name} failed: {_messages(page)}")
        if not isinstance(page.get("data"), dict):
            raise FatalError(f"gaiia query {name}: malformed answer, no 'data' object "
                             f"(got keys {sorted(page)})")
        return page

    def connection(self, query: str, path: tuple[str, ...], variables: Mapping[str, Any],
                   page_size: int, after: str | None = None) -> Iterator[Raw]:
        """Every node of one connection, page after page."""
        name = operation(query)

        def body(merged: dict[str, Any]) -> dict[str, Any]:
            return {"query": query, "operationName": name, "variables": merged}

        def items(page: Any) -> list[Raw]:
            conn = dig(page, *path)
            found = dig(conn, "nodes")
            if not isinstance(found, list) or not isinstance(dig(conn, "pageInfo"), dict) \
                    or not all(isinstance(n, dict) for n in found):
                raise FatalError(f"gaiia query {name}: malformed page, expected "
                                 f"{'.'.join(path)} {{nodes, pageInfo}}")
            return found

        start = {**variables, **({"after": after} if after else {})}
        yield from paginate(self, "POST", self.client.base_url,
                            RelayPaginator(path, page_size=page_size), start,
                            extract=items, json_body=body)

    def roots(self, query: str, root: str, variables: Mapping[str, Any] | None = None) -> Iterator[Raw]:
        return self.connection(query, ("data", root), variables or {}, self.page_size)

    def complete(self, invoice: Raw) -> Raw:
        """The invoice with its debits and credits read to the end."""
        out = dict(invoice)
        for name, query in MORE.items():
            conn = invoice.get(name)
            info = dig(conn, "pageInfo")
            if dig(info, "hasNextPage") is not True:
                continue
            rest = list(self.connection(query, ("data", "invoice", name),
                                        {"id": invoice["id"], "nested": self.nested},
                                        self.nested, after=dig(info, "endCursor")))
            out[name] = {"nodes": [*dig(conn, "nodes"), *rest],
                         "pageInfo": {"hasNextPage": False, "endCursor": None}}
        return out


def _messages(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors:
        code = dig(error, "extensions", "code")
        message = dig(error, "message") or "?"
        parts.append(f"{message} [{code}]" if code else str(message))
    return "; ".join(parts)


class _RootStream:
    """A root connection whose nodes map one-to-one onto records (or onto nothing)."""

    kind: ClassVar[str]
    root: ClassVar[str]
    query: ClassVar[str]
    build: ClassVar[Callable[[Mapping[str, Any]], SourceRecord | None]]

    def stamps(self, raw: Raw) -> tuple[Any, ...]:
        return raw.get("updatedAt"), raw.get("createdAt")

    def read(self, api: GaiiaApi, window: ReadWindow) -> Iterator[Item]:
        """All nodes, every run (gaiia offers no update filter here, or one that would miss
        changes), kept when changed at/after ``since``; a backfill keeps all."""
        since = window.since if window.mode == "incremental" else None
        build = type(self).build
        for raw in api.roots(self.query, self.root):
            if not changed_since(since, *self.stamps(raw)):
                continue
            try:
                record = build(raw)
            except MappingError as exc:
                yield quarantined(self.kind, raw, exc)
                continue
            if record is not None:
                yield record


class PlansStream(_RootStream):
    kind, root, query, build = "plan", "products", PRODUCTS, to_plan


class CustomersStream(_RootStream):
    kind, root, query, build = "customer", "accounts", ACCOUNTS, to_customer

    def stamps(self, raw: Raw) -> tuple[Any, ...]:
        # The billing-cycle flag changes billingSettings, which has its own updatedAt.
        return raw.get("updatedAt"), dig(raw, "billingSettings", "updatedAt"), raw.get("createdAt")


class SubscriptionsStream(_RootStream):
    kind, root, query, build = "subscription", "billingSubscriptions", SUBSCRIPTIONS, to_subscription


class InvoicesStream:
    """Invoices have no update filter: only ``createdAt``, ``dueDate`` and ``status``.

    Incremental reads every invoice created since ``since - settle`` (payments, voids and
    write-offs of recent invoices) plus every still-OPEN older one, and keeps those created
    or updated since ``since``. A backfill reads ``createdAt`` in ``[since, until)``.
    """

    def __init__(self, settle: timedelta) -> None:
        self.settle = settle

    def filters(self, window: ReadWindow) -> list[dict[str, Any]]:
        if window.mode == "backfill":
            bounds = {**({"gte": iso(window.since)} if window.since else {}),
                      **({"lt": iso(window.until)} if window.until else {})}
            return [{"createdAt": bounds} if bounds else {}]
        if window.since is None:
            return [{}]
        start = iso(to_utc(window.since) - self.settle)
        return [{"createdAt": {"gte": start}},
                {"status": {"in": ["OPEN"]}, "createdAt": {"lt": start}}]

    def wanted(self, raw: Raw, window: ReadWindow) -> bool:
        if window.mode == "incremental":
            return changed_since(window.since, raw.get("createdAt"), raw.get("updatedAt"))
        issued = stamp(raw.get("createdAt"))
        if issued is None:
            return True
        return ((window.since is None or issued >= to_utc(window.since))
                and (window.until is None or issued < to_utc(window.until)))

    def read(self, api: GaiiaApi, window: ReadWindow) -> Iterator[Item]:
        seen: set[str] = set()
        for flt in self.filters(window):
            variables: dict[str, Any] = {"nested": api.nested}
            if flt:
                variables["filter"] = flt
            for raw in api.roots(INVOICES, "invoices", variables):
                key = str(raw.get("id"))
                if key in seen or not self.wanted(raw, window):
                    continue
                seen.add(key)
                try:
                    yield to_invoice(api.complete(raw))
                except MappingError as exc:
                    yield quarantined("invoice", raw, exc)
