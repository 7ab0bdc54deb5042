"""The client keeps as many connections as its limiter lets be in flight (real HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest

from saasync.http import HttpClient, SlidingWindowLimiter
from saasync.server.closing import ClosingHTTPServer

IN_FLIGHT = 16


class _Server(ClosingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: set[int] = set()
        self.together = threading.Barrier(IN_FLIGHT, timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ChartMogul

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        server.connections.add(self.client_address[1])
        server.together.wait()  # every request of a burst in flight at once
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_parallel_bursts_reuse_their_connections(server: _Server) -> None:
    """Three bursts of 16 requests in flight: 16 connections, opened once. With requests'
    own pool of 10, six of each burst's connections were dropped and opened again."""
    host, port = server.server_address[:2]
    limiter = SlidingWindowLimiter(1000, 1.0, IN_FLIGHT)
    with HttpClient(f"http://{host!s}:{port}", limiter=limiter) as client, \
            ThreadPoolExecutor(IN_FLIGHT) as pool:
        for _ in range(3):
            answers = list(pool.map(lambda _: client.get_json("ping"), range(IN_FLIGHT)))
            assert answers == [{"ok": True}] * IN_FLIGHT
    assert len(server.connections) == IN_FLIGHT
