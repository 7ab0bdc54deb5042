"""A local fake of Recurly's v3 API (v2021-02-25) on 127.0.0.1, port chosen by the OS.

It behaves like the real list endpoints where the connector depends on them: the
``{object: "list", has_more, next, data}`` envelope, ``next`` links carrying an opaque
keyset cursor plus the original filters, ``sort`` (created_at | updated_at), ``order``
(default desc), inclusive ``begin_time``/``end_time`` on the sort field, ``limit``
1..200 (default 20), the invoice ``type`` filter, ``has_more_line_items`` with
``/invoices/{id}/line_items``, the mandatory versioned ``Accept`` header (406 without
it) and Basic auth with the API key as username (401 otherwise). Switches inject
throttling (429 + ``X-RateLimit-Reset``), a 5xx and malformed pages.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.connectors.source_limits import FakeServer, SourceLimits

SITE = Path(__file__).parent / "fixtures" / "site.json"
KEY = "rk_test_0123456789abcdefFAKEKEY"
VERSION = "v2021-02-25"
ACCEPTED = {f"application/vnd.recurly.{VERSION}", f"application/vnd.recurly.{VERSION}+json"}
COLLECTIONS = ("plans", "accounts", "subscriptions", "invoices")
Obj = dict[str, Any]


def load_site() -> dict[str, list[Obj]]:
    """The fixture data set, decoded as a server holds it."""
    data: dict[str, list[Obj]] = json.loads(SITE.read_text(encoding="utf-8"))
    return data


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class FakeRecurly:
    """Serve ``site`` until the context exits. Counters inject faults into the next requests
    (optionally only those whose path starts with ``fault_path``)."""

    def __init__(self, site: Mapping[str, list[Obj]] | None = None, *, api_key: str = KEY,
                 embedded_line_items: int | None = None,
                 clock: Callable[[], float] = time.time,
                 limits: SourceLimits | None = None) -> None:
        data = copy.deepcopy(dict(site) if site is not None else load_site())
        self.store: dict[str, dict[str, Obj]] = {
            name: {obj["id"]: obj for obj in data.get(name, [])} for name in COLLECTIONS
        }
        self.api_key = api_key
        self.limits = limits
        self.embedded_line_items = embedded_line_items
        self.clock = clock
        self.throttle = 0
        self.reset_in = 7
        self.fail = 0
        self.malformed = 0
        self.malformed_body = "<html><body>502 Bad Gateway</body></html>"
        self.fault_path: str | None = None
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._server = FakeServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- data -------------------------------------------------------------------------
    def get(self, collection: str, obj_id: str) -> Obj:
        return self.store[collection][obj_id]

    def put(self, collection: str, obj: Obj) -> None:
        with self._lock:
            self.store[collection][obj["id"]] = obj

    # -- request handling -------------------------------------------------------------
    def fault(self, path: str) -> tuple[int, dict[str, str], str] | None:
        """The injected answer for this request, if one is due."""
        if self.limits is not None:
            if not self.limits.admit():
                reset = int(self.clock() + self.limits.retry_in()) + 1
                body = _error_body("rate_limited", "You have made too many API requests.")
                return 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}, body
            self.limits.delay()
        with self._lock:
            if self.fault_path is not None and not path.startswith(self.fault_path):
                return None
            if self.throttle > 0:
                self.throttle -= 1
                reset = int(self.clock()) + self.reset_in
                body = _error_body("rate_limited", "You have made too many API requests.")
                return 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}, body
            if self.fail > 0:
                self.fail -= 1
                return 503, {}, _error_body("service_unavailable", "Please try again later.")
            if self.malformed > 0:
                self.malformed -= 1
                return 200, {}, self.malformed_body
        return None

    def answer(self, path: str, query: Mapping[str, list[str]]) -> Obj:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) == 1 and parts[0] in COLLECTIONS:
            return self._list(parts[0], list(self.store[parts[0]].values()), query)
        if len(parts) >= 2 and parts[0] == "invoices" and parts[1] in self.store["invoices"]:
            invoice = self.store["invoices"][parts[1]]
            if len(parts) == 2:
                return self._embed(invoice)
            if len(parts) == 3 and parts[2] == "line_items":
                return self._list(path, invoice["line_items"], query)
        raise ApiError(404, "not_found", f"Couldn't find resource at {path}")

    def _embed(self, invoice: Obj) -> Obj:
        limit = self.embedded_line_items
        if limit is None or len(invoice["line_items"]) <= limit:
            return {**invoice, "has_more_line_items": False}
        return {**invoice, "line_items": invoice["line_items"][:limit], "has_more_line_items": True}

    def _list(self, name: str, items: list[Obj], query: Mapping[str, list[str]]) -> Obj:
        q = {k: v[-1] for k, v in query.items()}
        limit = _int(q.get("limit", "20"))
        if not 1 <= limit <= 200:
            raise ApiError(400, "invalid_api_request", "limit must be between 1 and 200")
        sort, order = q.get("sort", "created_at"), q.get("order", "desc")
        if sort not in ("created_at", "updated_at") or order not in ("asc", "desc"):
            raise ApiError(400, "invalid_api_request", f"invalid sort {sort!r} or order {order!r}")
        begin, end = (_time(q[k]) if k in q else None for k in ("begin_time", "end_time"))
        kind = q.get("type")
        if kind is not None and kind not in ("charge", "credit", "legacy", "non-legacy"):
            raise ApiError(400, "invalid_api_request", f"invalid type {kind!r}")
        chosen = [
            i for i in items
            if (begin is None or _when(i[sort]) >= begin) and (end is None or _when(i[sort]) <= end)
            and (kind is None or (i.get("type") != "legacy" if kind == "non-legacy"
                                  else i.get("type") == kind))
        ]
        chosen.sort(key=lambda i: (_when(i[sort]), i["id"]), reverse=order == "desc")
        if "cursor" in q:
            mark = _decode_cursor(q["cursor"])
            asc = order == "asc"
            chosen = [i for i in chosen
                      if ((_when(i[sort]), i["id"]) > mark) == asc
                      and (_when(i[sort]), i["id"]) != mark]
        page, more = chosen[:limit], len(chosen) > limit
        data = [self._embed(i) if name == "invoices" else i for i in page]
        link = None
        if more:
            last = page[-1]
            keep: dict[str, str] = {k: q[k] for k in ("limit", "order", "sort", "begin_time", "end_time", "type")
                    if k in q}
            cursor = _encode_cursor(_when(last[sort]), last["id"])
            follow: dict[str, str] = {"cursor": cursor, **keep}
            link = "/" + name.strip("/") + "?" + urlencode(follow)
        return {"object": "list", "has_more": more, "next": link, "data": data}


def _error_body(kind: str, message: str) -> str:
    return json.dumps({"error": {"type": kind, "message": message, "params": []}})


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, "invalid_api_request", f"not an integer: {text!r}") from None


def _time(text: str) -> datetime:
    try:
        return _when(text)
    except ValueError:
        raise ApiError(400, "invalid_api_request", f"invalid time {text!r}") from None


def _encode_cursor(moment: datetime, obj_id: str) -> str:
    raw = f"{moment.isoformat()}|{obj_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, obj_id = text.split("|", 1)
        return datetime.fromisoformat(moment), obj_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_api_request", "invalid cursor") from None


def _handler(fake: FakeRecurly) -> type[BaseHTTPRequestHandler]:
    expected_auth = "Basic " + base64.b64encode(f"{fake.api_key}:".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()  # headers and body go out as two writes: no Nagle delay between
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: str, headers: Mapping[str, str] = {}) -> None:
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"application/vnd.recurly.{VERSION}+json; charset=utf-8")
            self.send_header("Recurly-Version", f"recurly.{VERSION}")
            self.send_header("X-RateLimit-Limit", "1000")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append(self.path)
            if self.headers.get("Accept") not in ACCEPTED:
                self._send(406, json.dumps({"error": {
                    "type": "invalid_api_version",
                    "message": "That accept header isn't in the format we use to specify an "
                               "API version. Try one of these instead:",
                    "acceptable_accept_headers": sorted(ACCEPTED)}}))
                return
            if self.headers.get("Authorization") != expected_auth:
                self._send(401, _error_body("unauthorized", "Invalid API key"))
                return
            injected = fake.fault(parts.path)
            if injected is not None:
                status, headers, body = injected
                self._send(status, body, headers)
                return
            try:
                with fake._lock:
                    body = json.dumps(fake.answer(parts.path, parse_qs(parts.query)))
            except ApiError as exc:
                self._send(exc.status, _error_body(exc.kind, exc.message))
                return
            self._send(200, body, {"X-RateLimit-Remaining": "999"})

    return Handler
