"""A ChartMogul-compatible HTTP server on the local store: ``make_server`` and its handle.

Standard library only (``ThreadingHTTPServer``, HTTP/1.1 keep-alive). Before a body is
read, the socket edge (``_Handler``) refuses a body over ``max_body_bytes`` (413, even on
``Expect: 100-continue``), a chunked body (411) and an unreadable ``Content-Length`` (400),
and closes that connection. A client that goes away (reset, broken pipe) costs its own
connection only: no traceback, the other clients are served on. Every request then goes
through the same pipeline, in this order:

1. the in-flight cap (``max_concurrency``; over it: 503);
2. HTTP Basic authentication with the API key as user name, any password
   (missing or wrong: 401 ``{"code":401,"message":"No valid API key provided","param":null}``);
3. the per-key sliding one-second window (``rate_limit``; over it: 429, ``Retry-After: 1``);
4. fault injection (``saasync.server.faults``): drop / 429 / 5xx / delay, before any state
   changes;
5. routing and the handler, under the store lock (one at a time);
6. the "5xx after commit" fault, for writes that succeeded.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from saasync.fx import RateTable
from saasync.server import (
    routes_activities,
    routes_customers,
    routes_imports,
    routes_invoices,
    routes_metrics,
    routes_plans,
    routes_sources,
    routes_subscriptions,
)
from saasync.server.api_store import ApiStore
from saasync.server.closing import ClosingHTTPServer
from saasync.server.context import Account, ApiContext
from saasync.server.faults import FaultConfig, FaultDecision, FaultInjector
from saasync.server.limits import (
    DRAIN_BYTES,
    DRAIN_SECONDS,
    MAX_BODY_BYTES,
    InFlightGate,
    SlidingWindow,
    nesting_exceeds,
    rate_limited,
    too_deep,
    too_large,
    too_many_connections,
)
from saasync.server.routing import Route
from saasync.server.wire import ApiError, ApiRequest, ApiResponse, coded

log = logging.getLogger("saasync.server")

ROUTES: tuple[Route, ...] = (
    *routes_sources.ROUTES,
    *routes_customers.ROUTES,
    *routes_plans.ROUTES,
    *routes_invoices.ROUTES,
    *routes_subscriptions.ROUTES,
    *routes_imports.ROUTES,
    *routes_metrics.ROUTES,
    *routes_activities.ROUTES,
)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAUTHORIZED = "No valid API key provided"
NO_FAULTS = FaultConfig()
DEFAULT_ACCOUNT = Account()


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str  # path and query string, as sent
    headers: Mapping[str, str]
    body: bytes = b""


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (the password is ignored)."""
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


class App:
    """The request pipeline, free of sockets: ``handle`` returns a response, or None to
    drop the connection."""

    def __init__(
        self,
        ctx: ApiContext,
        *,
        api_key: str,
        rate_limit: float,
        max_concurrency: int,
        faults: FaultConfig,
        routes: Sequence[Route] = ROUTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.gate = InFlightGate(max_concurrency)
        self.window = SlidingWindow(rate_limit, clock=clock)
        self.faults = FaultInjector(faults)
        self.routes = tuple(routes)
        self._sleep = sleep

    def handle(self, raw: RawRequest) -> ApiResponse | None:
        if not self.gate.enter():
            return too_many_connections(self.gate.limit)
        try:
            key = api_key_of(raw.headers)
            if key is None or not hmac.compare_digest(key.encode(), self.api_key.encode()):
                return coded(401, UNAUTHORIZED)
            if not self.window.admit(key):
                return rate_limited(self.rate_limit)
            fault = self.faults.decide()
            if fault.delay_s:
                self._sleep(fault.delay_s)
            if fault.drop:
                return None
            if fault.status is not None:
                return fault.response()
            response = self.dispatch(raw)
            if fault.fail_after_commit and raw.method in WRITES and response.status < 300:
                self.faults.record("after_commit")
                return FaultDecision(status=500).response()
            return response
        finally:
            self.gate.leave()

    def dispatch(self, raw: RawRequest) -> ApiResponse:
        """Route and run the handler under the store lock; errors become their answers."""
        parts = urlsplit(raw.target)
        path = parts.path.rstrip("/") or "/"
        try:
            request = ApiRequest(
                raw.method,
                unquote(path),
                dict(parse_qsl(parts.query, keep_blank_values=True)),
                _json(raw.body),
                len(raw.body),
            )
            for candidate in self.routes:
                if candidate.method != raw.method:
                    continue
                match = candidate.pattern.match(path)
                if match:
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    with self.ctx.lock:
                        return candidate.handler(self.ctx, request, params)
            return ApiResponse(404, {"error": f"No route for {raw.method} {path} in saasync serve"})
        except ApiError as exc:
            return exc.response
        except Exception as exc:  # a bug in the emulator: say so loudly, keep serving
            log.exception("saasync serve: %s %s failed", raw.method, raw.target)
            message = f"saasync serve failed: {type(exc).__name__}: {exc}"  # not a fault page
            return ApiResponse(500, {"code": 500, "message": message, "param": None})


def _json(body: bytes) -> object:
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except RecursionError:
        raise ApiError(400, too_deep().body) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError.bad_param(None, "The request body is not valid JSON") from None
    if nesting_exceeds(value):
        raise ApiError(400, too_deep().body)
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _Server

    def _serve(self) -> None:
        length = self._body_length(drain=True)
        if length is None:  # refused and answered
            return
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:  # the client went away in the middle of its body
            self.close_connection = True
            return
        outcome = self.server.app.handle(
            RawRequest(self.command, self.path, dict(self.headers.items()), body)
        )
        if outcome is None:  # an injected dropped connection: close without a byte
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(outcome)

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue``: refuse an oversized body before the client sends it."""
        if self._body_length(drain=False) is None:
            return False
        return super().handle_expect_100()

    def _body_length(self, *, drain: bool) -> int | None:
        """The body's length, or None once a refusal was sent (the connection then closes)."""
        if self.headers.get("Transfer-Encoding", "identity").strip().lower() != "identity":
            self._refuse(coded(411, "Send the body with a Content-Length (chunked bodies are "
                                    "not accepted)"))
            return None
        text = self.headers.get("Content-Length")
        try:
            length = int(text) if text is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            self._refuse(coded(400, f"Content-Length is not a number of bytes: {text!r}"))
            return None
        if length > self.server.max_body_bytes:
            self._refuse(too_large(self.server.max_body_bytes))
            if drain:
                self._drain(length)
            return None
        return length

    def _refuse(self, response: ApiResponse) -> None:
        self.close_connection = True
        self._send(replace(response, headers={**response.headers, "Connection": "close"}))

    def _drain(self, length: int) -> None:
        """Read and drop what the client sends of a refused body (bounded), so a client
        that sends everything before reading still reads the 413; then the socket closes."""
        left = min(length, DRAIN_BYTES)
        deadline = time.monotonic() + DRAIN_SECONDS
        try:
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _send(self, outcome: ApiResponse) -> None:
        payload, content_type = outcome.encode()
        self.send_response(outcome.status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ClosingHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, broken pipe, timeout) is no error of the server:
        a debug line, not a traceback. Anything else is reported as before."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


class ServerHandle:
    """A bound server: ``url`` is known at once; ``start`` serves from a background thread."""

    def __init__(self, server: _Server, store: ApiStore) -> None:
        self._server = server
        self.store = store
        self.app = server.app
        self._thread: threading.Thread | None = None
        self._closed = False
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}/v1"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # a quick stop(): tests start many servers
                name="saasync-serve",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``KeyboardInterrupt`` (the CLI)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.server_close()
            with self.app.ctx.lock:
                self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def make_server(
    store_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = "test-key",
    rate_limit: float = 40.0,
    max_concurrency: int = 20,
    faults: FaultConfig = NO_FAULTS,
    account: Account = DEFAULT_ACCOUNT,
    grace: timedelta = timedelta(0),
    clock: Callable[[], datetime] | None = None,
    fx_rates: RateTable | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> ServerHandle:
    """Open (or create) the store at ``store_path`` (``":memory:"`` works) and bind the
    server; port 0 picks a free port. ``clock`` fixes "now" for statuses and MRR;
    ``fx_rates`` turns metrics into ``account.currency`` (default: the bundled sample
    rates); bodies over ``max_body_bytes`` are refused with 413 before they are read."""
    if not api_key or not api_key.strip():
        raise ValueError("api_key must not be empty")
    store = ApiStore(store_path)
    ctx = ApiContext(store, account=account, grace=grace, clock=clock, rates=fx_rates)
    app = App(ctx, api_key=api_key, rate_limit=rate_limit, max_concurrency=max_concurrency,
              faults=faults)  # fmt: skip
    try:
        server = _Server((host, port), app, max_body_bytes)
    except OSError:
        store.close()
        raise
    handle = ServerHandle(server, store)
    ctx.base_url = handle.url.removesuffix("/v1")
    return handle
