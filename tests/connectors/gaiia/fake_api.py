"""A local fake of gaiia's GraphQL endpoint, serving a JSON data set with gaiia's own paging.

It answers the connector's operations the way the real API does as far as the
connector can tell: one POST endpoint, the ``X-Gaiia-Api-Key`` header (a wrong key is
an HTTP 200 carrying ``UNAUTHORIZED``), Relay connections with opaque
``arrayconnection:N`` cursors, ``first`` capped at 250 on root connections, nested
connections cut at their ``first`` and finished through ``invoice(id)``, and the
``InvoicesFilter`` (``createdAt``/``dueDate`` DateTimeFilter, ``status.in``). Switches
inject throttling (HTTP 200 + ``RATE_LIMITED`` + ``retryAt``), a 5xx and a malformed page.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self

from saasync.models import to_utc
from saasync.server.closing import ClosingHTTPServer

DATASET = Path(__file__).with_name("fixtures") / "dataset.json"
API_KEY = "gaiia-test-key-0f3a9c"
MAX_FIRST = 250
BASE58 = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
Node = dict[str, Any]
ROOTS = {"SaasyncProducts": "products", "SaasyncAccounts": "accounts",
         "SaasyncBillingSubscriptions": "billingSubscriptions", "SaasyncInvoices": "invoices",
         "SaasyncInvoiceDebits": "invoice", "SaasyncInvoiceCredits": "invoice"}
# Nested connections inside an invoice, by where they sit.
INVOICE_CONNS = ("debits", "credits")
DEBIT_CONNS = (("discounts",), ("transaction", "taxTransactions"))
CREDIT_CONNS = (("transaction", "payment", "refunds"),)


def global_id(type_name: str, seed: str) -> str:
    """A gaiia global id (``snake_type_`` + 22 Flickr base-58 chars of a UUID)."""
    num = uuid.uuid5(uuid.NAMESPACE_URL, f"{type_name}:{seed}").int
    chars = ""
    while num:
        num, rem = divmod(num, 58)
        chars = BASE58[rem] + chars
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()
    return f"{snake}_{chars.rjust(22, BASE58[0])}"


def cursor(index: int) -> str:
    return base64.b64encode(f"arrayconnection:{index}".encode()).decode()


def offset(after: str | None) -> int:
    if not after:
        return 0
    return int(base64.b64decode(after).decode().split(":")[1]) + 1


def page(nodes: list[Node], first: int, after: str | None = None) -> Node:
    start = offset(after)
    chunk = nodes[start:start + first]
    end = start + len(chunk) - 1
    return {"nodes": chunk, "pageInfo": {"hasNextPage": start + first < len(nodes),
                                         "endCursor": cursor(end) if chunk else None}}


def load_dataset() -> dict[str, list[Node]]:
    data: dict[str, list[Node]] = json.loads(DATASET.read_text(encoding="utf-8"))
    return data


class FakeGaiia:
    """The server and its data. Use as a context manager; ``base_url`` is the endpoint."""

    def __init__(self, data: dict[str, list[Node]] | None = None, api_key: str = API_KEY) -> None:
        self.data = copy.deepcopy(data if data is not None else load_dataset())
        self.api_key = api_key
        self.calls: list[dict[str, Any]] = []
        self._faults: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ClosingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- switches ------------------------------------------------------------------------
    def throttle_next(self, times: int = 1, wait_s: float = 2.0) -> None:
        self._faults.extend([("throttle", wait_s)] * times)

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        self._faults.extend([("status", status)] * times)

    def malformed_next(self) -> None:
        self._faults.append(("malformed", None))

    def invoice(self, invoice_id: str) -> Node:
        return next(i for i in self.data["invoices"] if i["id"] == invoice_id)

    def operations(self) -> list[str]:
        return [c["operationName"] for c in self.calls]

    # -- changes, as gaiia would make them -------------------------------------------------
    def pay_invoice(self, invoice_id: str, when: str) -> None:
        """A successful payment of the whole invoice, applied as a PAYMENT credit."""
        with self._lock:
            inv = self.invoice(invoice_id)
            seed = f"{invoice_id}:{when}"
            inv["credits"]["nodes"].append({
                "id": global_id("Credit", seed), "creditableType": "PAYMENT",
                "totalAmount": inv["total"], "createdAt": when, "voidedAt": None,
                "transaction": {"id": global_id("Transaction", seed), "payment": {
                    "id": global_id("Payment", seed), "status": "SUCCEEDED",
                    "paymentDateTime": when, "succeededAt": when,
                    "refunds": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}},
                }},
            })
            inv.update(status="PAID", updatedAt=when, amountPaid=inv["total"])

    def copy_invoice(self, invoice_id: str, created: str) -> str:
        """A new invoice like ``invoice_id`` (next cycle), created at ``created``."""
        with self._lock:
            new = copy.deepcopy(self.invoice(invoice_id))
            new.update(id=global_id("Invoice", f"{invoice_id}:{created}"), createdAt=created,
                       updatedAt=created, openedAt=created,
                       invoiceNumber=max(i["invoiceNumber"] for i in self.data["invoices"]) + 1)
            self.data["invoices"].append(new)
            return str(new["id"])

    # -- answering -----------------------------------------------------------------------
    def answer(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        with self._lock:
            request = json.loads(body)
            self.calls.append({"operationName": request.get("operationName"),
                               "variables": request.get("variables") or {}})
            fault = self._faults.pop(0) if self._faults else None
            if fault and fault[0] == "status":
                return fault[1], b'{"message": "upstream unavailable"}'
            if fault and fault[0] == "malformed":
                return 200, b'{"data": null, "extensions": {}}'
            if fault and fault[0] == "throttle":
                return 200, _json(_rate_limited(fault[1]))
            if key != self.api_key:
                return 200, _json(_error("Invalid API key.", "UNAUTHORIZED"))
            return 200, _json(self._execute(request))

    def _execute(self, request: Node) -> Node:
        name = request.get("operationName")
        query = str(request.get("query", ""))
        variables: Node = request.get("variables") or {}
        root = ROOTS.get(str(name))
        if root is None or not re.search(rf"\b{root}\s*\(", query):
            return _error(f'Unknown operation "{name}".', "GRAPHQL_VALIDATION_FAILED")
        if root == "invoice":
            return self._invoice_rest(query, variables)
        first = variables.get("first", 50)
        if not isinstance(first, int) or not 0 < first <= MAX_FIRST:
            return _error(f"Argument 'first' must be between 1 and {MAX_FIRST}.", "BAD_USER_INPUT")
        nodes = self.data[root]
        if root == "invoices":
            nodes = [self._cut(n, variables["nested"]) for n in _filtered(nodes, variables)]
        return {"data": {root: page(nodes, first, variables.get("after"))}}

    def _invoice_rest(self, query: str, variables: Node) -> Node:
        field = "debits" if "debits(" in query else "credits"
        found = self.invoice(variables["id"])
        nodes = [self._cut_child(field, n, variables["nested"]) for n in found[field]["nodes"]]
        return {"data": {"invoice": {field: page(nodes, variables["first"], variables.get("after"))}}}

    def _cut(self, invoice: Node, nested: int) -> Node:
        out = copy.deepcopy(invoice)
        for field in INVOICE_CONNS:
            children = [self._cut_child(field, n, nested) for n in invoice[field]["nodes"]]
            out[field] = page(children, nested)
        return out

    def _cut_child(self, field: str, node: Node, nested: int) -> Node:
        out = copy.deepcopy(node)
        for path in DEBIT_CONNS if field == "debits" else CREDIT_CONNS:
            holder = out
            for key in path[:-1]:
                holder = holder.get(key) or {}
            if path[-1] in holder:
                holder[path[-1]] = page(holder[path[-1]]["nodes"], nested)
        return out


def _filtered(nodes: list[Node], variables: Node) -> Iterator[Node]:
    flt: Node = variables.get("filter") or {}
    statuses = (flt.get("status") or {}).get("in")
    for node in sorted(nodes, key=lambda n: (n["createdAt"], n["id"])):
        if statuses is not None and node["status"] not in statuses:
            continue
        if not _dates_match(node.get("createdAt"), flt.get("createdAt")):
            continue
        if not _dates_match(node.get("dueDate"), flt.get("dueDate")):
            continue
        yield node


def _dates_match(value: Any, flt: Node | None) -> bool:
    if not flt:
        return True
    moment = to_utc(value)
    tests = {"gte": lambda b: moment >= b, "gt": lambda b: moment > b,
             "lte": lambda b: moment <= b, "lt": lambda b: moment < b,
             "equals": lambda b: moment == b}
    return all(tests[op](to_utc(bound)) for op, bound in flt.items())


def _error(message: str, code: str) -> Node:
    return {"errors": [{"message": message, "extensions": {"code": code}}], "data": None}


def _rate_limited(wait_s: float) -> Node:
    retry_at = datetime.now(UTC) + timedelta(seconds=wait_s)
    return {"errors": [{"message": "You have exceeded the allowed rate limit.", "extensions": {
        "code": "RATE_LIMITED", "cost": 138, "limit": 500, "used": 462, "remaining": 38,
        "retryAt": retry_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}}]}


def _json(payload: Node) -> bytes:
    return json.dumps(payload).encode()


def _handler(fake: FakeGaiia) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/api/v1":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, payload = fake.answer(body, self.headers.get("X-Gaiia-Api-Key"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
