"""A local fake of the Chargebee API v2 list calls, on 127.0.0.1 and a free port.

It serves a data set (resource name → list of objects, shaped like the real ones) with
Chargebee's real paging (``limit`` 1-100, an opaque ``next_offset`` sent back as
``offset``), its filters (``updated_at[after]``, ``date[between|after|before]``,
``id[in]``, ``reference_invoice_id[in]``, ``item_type[in]``, ``include_deleted``,
``sort_by[asc]``) and Basic auth with the key as username. A parameter the real endpoint
does not take is answered 400, as Chargebee does, so the connector cannot drift.
Switches inject a throttled answer (429 with ``Retry-After``), a server error and a
malformed page.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.connectors.source_limits import FakeServer, SourceLimits

Obj = dict[str, Any]

UPDATED = ("updated_at[after]", "updated_at[before]", "updated_at[between]")
# collection → (resource key, sortable attributes, filters it accepts besides paging)
ENDPOINTS: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "customers": ("customer", ("updated_at", "created_at"),
                  frozenset({"include_deleted", "id[in]", *UPDATED})),
    "subscriptions": ("subscription", ("updated_at", "created_at"),
                      frozenset({"include_deleted", "id[in]", *UPDATED})),
    "invoices": ("invoice", ("updated_at", "date"),
                 frozenset({"include_deleted", "id[in]", "date[after]", "date[before]",
                            "date[between]", *UPDATED})),
    "credit_notes": ("credit_note", ("date",),
                     frozenset({"include_deleted", "updated_at[after]", "id[in]",
                                "reference_invoice_id[in]"})),
    "item_prices": ("item_price", ("updated_at", "name", "id"),
                    frozenset({"updated_at[after]", "id[in]", "item_type[in]"})),
    "plans": ("plan", (), frozenset({"include_deleted", "updated_at[after]", "id[in]"})),
    "addons": ("addon", (), frozenset({"include_deleted", "updated_at[after]", "id[in]"})),
}


def error(status: int, code: str, message: str, kind: str = "invalid_request") -> tuple[int, Obj]:
    return status, {"message": message, "type": kind, "api_error_code": code,
                    "error_code": code, "error_msg": message, "http_status_code": status}


class FakeChargebee:
    """The server and its switches. ``data`` is mutable: tests change the site between reads."""

    def __init__(self, data: dict[str, list[Obj]], api_key: str = "test_cb_key", *,
                 limits: SourceLimits | None = None) -> None:
        self.data = data
        self.limits = limits
        self.api_key = api_key
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.throttled = 0
        self.failing = 0
        self.malformed = 0
        self.retry_after: str | None = "2"
        self._lock = threading.Lock()
        self._server: FakeServer | None = None

    # -- switches ----------------------------------------------------------------------------
    def throttle_next(self, count: int = 1, retry_after: str | None = "2") -> None:
        self.throttled, self.retry_after = count, retry_after

    def fail_next(self, count: int = 1) -> None:
        self.failing = count

    def malform_next(self, count: int = 1) -> None:
        self.malformed = count

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v2"

    @contextmanager
    def running(self) -> Iterator[FakeChargebee]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = fake.answer(self.path, self.headers.get("Authorization"))
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = FakeServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)

    # -- the API -----------------------------------------------------------------------------
    def answer(self, raw_path: str, auth: str | None) -> tuple[int, Obj | bytes, dict[str, str]]:
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if self.limits is not None:
            if not self.limits.admit():
                wait = str(math.ceil(self.limits.retry_in()) or 1)
                return (*error(429, "api_request_limit_exceeded", "Sorry, access has been "
                               "blocked temporarily due to request count exceeding acceptable "
                               "limits."), {"Retry-After": wait})
            self.limits.delay()
        with self._lock:
            self.requests.append((url.path, query))
            expected = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
            if auth != expected:
                return (*error(401, "api_authentication_failed",
                               "Sorry, authentication failed. Invalid api key", "auth"), {})
            if self.throttled:
                self.throttled -= 1
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return (*error(429, "api_request_limit_exceeded",
                               "Sorry, access has been blocked temporarily due to request "
                               "count exceeding acceptable limits."), headers)
            if self.failing:
                self.failing -= 1
                return (*error(503, "internal_temporary_error",
                               "Sorry, something went wrong. Please retry after some time."), {})
            if self.malformed:
                self.malformed -= 1
                return 200, b"<html><body>Bad gateway</body></html>", {}
            parts = url.path.removeprefix("/api/v2/").split("/")
            if len(parts) == 1 and parts[0] in ENDPOINTS:
                return (*self.list(parts[0], query), {})
            return (*error(404, "resource_not_found", f"{url.path} not found"), {})

    def list(self, collection: str, query: dict[str, str]) -> tuple[int, Obj]:
        resource, sortable, filters = ENDPOINTS[collection]
        for name in query:
            if name not in filters | {"limit", "offset", "sort_by[asc]"}:
                return error(400, "invalid_request", f"{name} : unsupported parameter")
        limit = int(query.get("limit", "10"))
        if not 1 <= limit <= 100:
            return error(400, "param_out_of_range", "limit : should be between 1 and 100")
        sort = query.get("sort_by[asc]")
        if sort is not None and sort not in sortable:
            return error(400, "invalid_request", f"sort_by[asc] : {sort} is not supported")
        rows = [obj for obj in self.data.get(collection, []) if self.matches(obj, query)]
        keyed = sorted(((obj.get(sort, 0) if sort else pos, str(obj["id"]), obj)
                        for pos, obj in enumerate(rows)), key=lambda t: (t[0], t[1]))
        if "offset" in query:
            mark = json.loads(query["offset"])
            keyed = [t for t in keyed if (t[0], t[1]) > (int(mark[0]), mark[1])]
        page = keyed[:limit]
        body: Obj = {"list": [self.entry(collection, resource, t[2]) for t in page]}
        if len(keyed) > limit:
            body["next_offset"] = json.dumps([str(page[-1][0]), page[-1][1]])
        return 200, body

    def entry(self, collection: str, resource: str, obj: Obj) -> Obj:
        out: Obj = {resource: obj}
        if collection == "subscriptions":  # the real list carries the customer alongside
            customer = next((c for c in self.data.get("customers", [])
                             if c["id"] == obj.get("customer_id")), None)
            if customer is not None:
                out["customer"] = customer
        return out

    @staticmethod
    def matches(obj: Obj, query: dict[str, str]) -> bool:
        if obj.get("deleted") is True and query.get("include_deleted") != "true":
            return False
        for name, value in query.items():
            field, _, op = name.partition("[")
            op = op.rstrip("]")
            if op == "after" and not obj.get(field, 0) > int(value):
                return False
            if op == "before" and not obj.get(field, 0) < int(value):
                return False
            if op == "between":
                low, high = json.loads(value)
                if not int(low) <= obj.get(field, 0) <= int(high):
                    return False
            if op == "in" and str(obj.get(field)) not in json.loads(value):
                return False
        return True
