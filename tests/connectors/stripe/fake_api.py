"""A local fake of the Stripe API: fixture objects served with Stripe's own paging and filters.

Lists are newest-created first and paged with ``starting_after`` / ``has_more``; the
``created[gte|gt|lte|lt]`` filters, ``status=all`` on subscriptions, ``types[]`` on events
(kept for 30 days before the fake's ``now``), ``expand[]=data.product`` on prices and the
embedded, truncated ``lines`` list of invoices behave as Stripe documents them. Unknown
parameters are refused with a 400, as Stripe does. Switches inject a throttled answer,
a 5xx and a malformed page; ``limits`` adds a page latency and Stripe's request limit
(429 above it).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.connectors.source_limits import FakeServer, SourceLimits

KEY = "sk_test_51FakeStripeKey0123456789"
DATASET = Path(__file__).with_name("fixtures") / "fake_account.json"
RETENTION = 30 * 86400
Obj = dict[str, Any]
_LIST_PARAMS = {"limit", "starting_after", "ending_before", "created[gte]", "created[gt]",
                "created[lte]", "created[lt]", "expand[]"}
_ALLOWED = {
    "/v1/prices": _LIST_PARAMS | {"type", "active", "product", "currency"},
    "/v1/customers": _LIST_PARAMS | {"email"},
    "/v1/subscriptions": _LIST_PARAMS | {"status", "customer", "price"},
    "/v1/invoices": _LIST_PARAMS | {"status", "customer", "subscription"},
    "/v1/credit_notes": _LIST_PARAMS | {"invoice", "customer"},
    "/v1/events": _LIST_PARAMS | {"types[]", "type"},
    "lines": {"limit", "starting_after", "ending_before", "expand[]"},
    "retrieve": {"expand[]"},
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code

    def body(self) -> Obj:
        error: Obj = {"message": str(self), "type": self.kind}
        if self.code:
            error["code"] = self.code
        return {"error": error}


class FakeStripe:
    """The fake server and the account it holds. Use as a context manager."""

    def __init__(self, dataset: Mapping[str, Any] | None = None, *, key: str = KEY,
                 embedded_lines: int = 2, limits: SourceLimits | None = None) -> None:
        data = copy.deepcopy(dict(dataset)) if dataset is not None else load_dataset()
        self.now = int(data["now"])
        self.key = key
        self.embedded_lines = embedded_lines
        self.products: dict[str, Obj] = {p["id"]: p for p in data["products"]}
        self.prices: dict[str, Obj] = {p["id"]: p for p in data["prices"]}
        self.customers: dict[str, Obj] = {c["id"]: c for c in data["customers"]}
        self.subscriptions: dict[str, Obj] = {s["id"]: s for s in data["subscriptions"]}
        self.invoices: dict[str, Obj] = {i["id"]: i for i in data["invoices"]}
        self.credit_notes: dict[str, Obj] = {c["id"]: c for c in data["credit_notes"]}
        self.events: list[Obj] = list(data["events"])
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.throttle = 0
        self.should_retry: str | None = None
        self.fail = 0
        self.malformed = 0
        self.limits = limits
        # called before each answer, under the lock: a test changes the account mid-read
        self.on_request: Callable[[str, dict[str, list[str]]], None] | None = None
        self._lock = threading.Lock()
        self._server = FakeServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- changes, as Stripe would record them ---------------------------------------------
    def add_event(self, kind: str, obj: Obj, at: int) -> None:
        self.events.append({
            "id": f"evt_SFake{len(self.events):06d}", "object": "event",
            "api_version": "2025-03-31.basil", "created": at,
            "data": {"object": copy.deepcopy(obj)}, "livemode": False, "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None}, "type": kind,
        })

    def pay_invoice(self, invoice_id: str, at: int) -> None:
        invoice = self.invoices[invoice_id]
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                       attempted=True, attempt_count=invoice["attempt_count"] + 1,
                       next_payment_attempt=None)
        invoice["status_transitions"]["paid_at"] = at
        self.add_event("invoice.paid", invoice, at)

    def add_invoice(self, invoice: Obj) -> None:
        self.invoices[invoice["id"]] = invoice
        self.add_event("invoice.created", invoice, invoice["created"])

    # -- answers ---------------------------------------------------------------------------
    def answer(self, method: str, url: str, headers: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        if self.limits is not None:
            if not self.limits.admit():
                return 429, ApiError(429, "Request rate limit exceeded.",
                                     code="rate_limit").body(), {}
            self.limits.delay()
        with self._lock:
            self.requests.append((parts.path, query, headers.get("stripe-version")))
            if headers.get("authorization") != f"Bearer {self.key}":
                return 401, ApiError(401, "Invalid API Key provided: sk_test_****").body(), {}
            if self.throttle > 0:
                self.throttle -= 1
                extra = {"Stripe-Should-Retry": self.should_retry} if self.should_retry else {}
                return 429, ApiError(429, "Request rate limit exceeded. Learn more about rate "
                                     "limits here https://stripe.com/docs/rate-limits.",
                                     code="rate_limit").body(), extra
            if self.fail > 0:
                self.fail -= 1
                return 500, ApiError(500, "An unknown error occurred", "api_error").body(), {}
            if self.malformed > 0:
                self.malformed -= 1
                return 200, "<html><body>502 Bad Gateway</body></html>", {}
        if method != "GET":
            return 405, ApiError(405, "This fake is read-only").body(), {}
        try:
            with self._lock:  # a change (``on_request``) never lands mid-answer
                if self.on_request is not None:
                    self.on_request(parts.path, query)
                return 200, self.route(parts.path, query), {}
        except ApiError as exc:
            return exc.status, exc.body(), {}

    def route(self, path: str, query: dict[str, list[str]]) -> Obj:
        lists: dict[str, Callable[[dict[str, list[str]]], list[Obj]]] = {
            "/v1/prices": self._prices, "/v1/customers": self._customers,
            "/v1/subscriptions": self._subscriptions, "/v1/invoices": self._invoices,
            "/v1/credit_notes": self._credit_notes, "/v1/events": self._events,
        }
        if path in lists:
            _check(query, _ALLOWED[path])
            found = page(path, lists[path](query), query)
            if path == "/v1/invoices":  # rendered once on the page, not all of them each time
                found["data"] = [self.render(i) for i in found["data"]]
            return found
        segments = path.strip("/").split("/")
        if len(segments) == 4 and segments[:2] == ["v1", "invoices"] and segments[3] == "lines":
            _check(query, _ALLOWED["lines"])
            return page(path, self._invoice(segments[2])["lines"]["data"], query, newest=False)
        if len(segments) == 3 and segments[0] == "v1":
            _check(query, _ALLOWED["retrieve"])
            table = {"customers": self.customers, "subscriptions": self.subscriptions,
                     "invoices": self.invoices}.get(segments[1])
            if table is not None:
                if segments[2] not in table:
                    raise ApiError(404, f"No such {segments[1][:-1]}: '{segments[2]}'",
                                   code="resource_missing")
                found = table[segments[2]]
                return self.render(found) if segments[1] == "invoices" else copy.deepcopy(found)
        raise ApiError(404, f"Unrecognized request URL (GET: {path}).")

    def render(self, invoice: Obj) -> Obj:
        """An invoice as the API shows it: only the first lines embedded."""
        out = copy.deepcopy(invoice)
        lines = out["lines"]["data"]
        out["lines"] = {"object": "list", "data": lines[: self.embedded_lines],
                        "has_more": len(lines) > self.embedded_lines, "total_count": len(lines),
                        "url": f"/v1/invoices/{invoice['id']}/lines"}
        return out

    def _invoice(self, invoice_id: str) -> Obj:
        if invoice_id not in self.invoices:
            raise ApiError(404, f"No such invoice: '{invoice_id}'", code="resource_missing")
        return self.invoices[invoice_id]

    def _prices(self, query: dict[str, list[str]]) -> list[Obj]:
        wanted = _one(query, "type")
        found = [copy.deepcopy(p) for p in self.prices.values()
                 if wanted is None or p["type"] == wanted]
        if "data.product" in query.get("expand[]", []):
            for price in found:
                price["product"] = copy.deepcopy(self.products[price["product"]])
        return _created(found, query)

    def _customers(self, query: dict[str, list[str]]) -> list[Obj]:
        return _created(list(self.customers.values()), query)

    def _subscriptions(self, query: dict[str, list[str]]) -> list[Obj]:
        status = _one(query, "status")
        found = [s for s in self.subscriptions.values()
                 if status == "all" or (s["status"] == status if status
                                        else s["status"] != "canceled")]
        return _created(found, query)

    def _invoices(self, query: dict[str, list[str]]) -> list[Obj]:
        return _created(list(self.invoices.values()), query)

    def _credit_notes(self, query: dict[str, list[str]]) -> list[Obj]:
        invoice = _one(query, "invoice")
        return _created([c for c in self.credit_notes.values()
                         if invoice is None or c["invoice"] == invoice], query)

    def _events(self, query: dict[str, list[str]]) -> list[Obj]:
        types = query.get("types[]")
        if types and len(types) > 20:
            raise ApiError(400, "types: at most 20 event types")
        kept = [e for e in self.events if e["created"] >= self.now - RETENTION
                and (not types or e["type"] in types)]
        return _created(kept, query)


def load_dataset() -> Obj:
    data: Obj = json.loads(DATASET.read_text(encoding="utf-8"))
    return data


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _check(query: dict[str, list[str]], allowed: set[str]) -> None:
    for name in query:
        if name not in allowed:
            raise ApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown")


def _created(items: list[Obj], query: dict[str, list[str]]) -> list[Obj]:
    tests: dict[str, Callable[[int, int], bool]] = {
        "created[gte]": lambda c, v: c >= v, "created[gt]": lambda c, v: c > v,
        "created[lte]": lambda c, v: c <= v, "created[lt]": lambda c, v: c < v,
    }
    for name, test in tests.items():
        value = _one(query, name)
        if value is not None:
            if not value.lstrip("-").isdigit():
                raise ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer")
            items = [i for i in items if test(i["created"], int(value))]
    return items


def page(path: str, items: list[Obj], query: dict[str, list[str]], *, newest: bool = True) -> Obj:
    """One Stripe list page: newest first (ties by id), from after ``starting_after``."""
    if newest:
        items = sorted(items, key=lambda i: (i["created"], i["id"]), reverse=True)
    limit_text = _one(query, "limit") or "10"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise ApiError(400, "Invalid limit: must be an integer between 1 and 100")
    if "ending_before" in query and "starting_after" in query:
        raise ApiError(400, "You may only specify one of these parameters: ending_before, "
                       "starting_after.")
    after = _one(query, "starting_after")
    if after is not None:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise ApiError(400, f"No such object: '{after}'", code="resource_missing")
        items = items[ids.index(after) + 1:]
    limit = int(limit_text)
    return {"object": "list", "data": copy.deepcopy(items[:limit]),
            "has_more": len(items) > limit, "url": path}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def _reply(self, method: str) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, extra = fake.answer(method, self.path, headers)
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(body, str)
                             else "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Request-Id", f"req_fake{len(fake.requests):06d}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler

