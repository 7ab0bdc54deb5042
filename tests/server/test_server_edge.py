"""The request-handling edge of ``saasync serve``: body limits, hostile JSON, disconnects,
and the command's refusals and warnings."""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from saasync.cli import main
from saasync.server import command
from saasync.server.app import ServerHandle, make_server
from saasync.server.faults import FaultConfig
from saasync.server.limits import MAX_BODY_BYTES
from tests.server.conftest import KEY, Api

AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", f"Authorization: {AUTH}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashed or gave up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _connect(server: ServerHandle) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=10)


def test_serve_refuses_oversized_body_with_413_and_keeps_answering(server: ServerHandle,
                                                                   api: Api) -> None:
    ds = api.data_source()
    too_big = json.dumps({"data_source_uuid": ds, "external_id": "c1", "name": "x",
                          "company": "y" * (MAX_BODY_BYTES + 1)})
    answer = api.request("POST", "/customers", data=too_big,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    body = answer.json()
    assert body["code"] == 413 and body["param"] is None and "5 MB" in body["message"]
    assert api.get("/customers").json()["entries"] == []  # nothing was created
    assert api.ok("POST", "/customers", {"data_source_uuid": ds, "external_id": "c1",
                                         "name": "x"}, 201)


def test_a_200_mb_body_is_refused_before_it_is_read(server: ServerHandle, api: Api) -> None:
    sock = _connect(server)
    try:
        sock.sendall(_head("POST", "/v1/customers", {"Content-Length": str(200 * 1024 * 1024)}))
        started = time.monotonic()
        try:
            for _ in range(4):
                sock.sendall(b" " * (1024 * 1024))
        except OSError:
            pass  # the server may have stopped reading: that is the point
        status, _, body = _read_response(sock)
        assert status == 413 and json.loads(body)["code"] == 413
        assert time.monotonic() - started < 5
    finally:
        _reset(sock)
    assert api.ok("GET", "/ping") == {"data": "pong!"}


def test_expect_100_continue_with_an_oversized_body_gets_413_at_once(server: ServerHandle) -> None:
    sock = _connect(server)
    try:
        sock.sendall(_head("POST", "/v1/customers", {"Content-Length": str(50 * 1024 * 1024),
                                                     "Expect": "100-continue"}))
        status, _, body = _read_response(sock)  # no body sent at all
        assert status == 413 and json.loads(body)["code"] == 413
    finally:
        sock.close()


@pytest.mark.parametrize("length", ["abc", "-5"])
def test_an_unreadable_content_length_is_400(server: ServerHandle, api: Api, length: str) -> None:
    sock = _connect(server)
    try:
        sock.sendall(_head("POST", "/v1/customers", {"Content-Length": length}))
        status, _, body = _read_response(sock)
        assert status == 400 and json.loads(body)["code"] == 400
    finally:
        sock.close()
    assert api.ok("GET", "/ping") == {"data": "pong!"}


def test_a_chunked_body_is_refused_with_411(server: ServerHandle, api: Api) -> None:
    sock = _connect(server)
    try:
        sock.sendall(_head("POST", "/v1/customers", {"Transfer-Encoding": "chunked"})
                     + b"5\r\nhello\r\n0\r\n\r\n")
        status, _, body = _read_response(sock)
        assert status == 411 and json.loads(body)["code"] == 411
    finally:
        sock.close()
    assert api.ok("GET", "/ping") == {"data": "pong!"}


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_body_is_400_not_500(api: Api, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    answer = api.request("POST", "/customers", data=nested,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == 400 and "nested" in body["message"]
    assert "Recursion" not in answer.text and "Error" not in answer.text
    assert api.ok("GET", "/ping") == {"data": "pong!"}


def test_sensible_nesting_is_still_accepted(api: Api) -> None:
    ds = api.data_source()
    api.ok("POST", "/customers", {"data_source_uuid": ds, "external_id": "c1", "name": "x",
                                  "attributes": {"tags": ["a"], "custom": [
                                      {"type": "String", "key": "k", "value": "v"}]}}, 201)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[ServerHandle]:
    faults = FaultConfig(p_slow=1.0, slow_ms=300)
    with make_server(tmp_path / "slow.db", rate_limit=0, max_concurrency=0,
                     faults=faults) as handle:
        yield handle


def test_client_disconnects_print_no_traceback_and_the_server_keeps_answering(
        slow_server: ServerHandle, capfd: pytest.CaptureFixture[str]) -> None:
    # a client that resets the connection half-way through sending its body
    sock = _connect(slow_server)
    sock.sendall(_head("POST", "/v1/data_sources", {"Content-Length": "1000"}) + b'{"name"')
    time.sleep(0.1)
    _reset(sock)
    # a client that gives up before the (slow) answer is written
    sock = _connect(slow_server)
    sock.sendall(_head("GET", "/v1/ping", {}))
    time.sleep(0.05)
    _reset(sock)
    time.sleep(0.6)  # the server writes into the reset connection meanwhile
    assert Api(slow_server.url).ok("GET", "/ping") == {"data": "pong!"}
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


def test_a_stop_closes_idle_keep_alive_connections_and_ends_their_threads(
        tmp_path: Path) -> None:
    """A client that keeps its connection open after an answer (HTTP/1.1 keep-alive) does
    not keep a thread of the server alive once it is stopped."""
    import threading

    before = set(threading.enumerate())
    handle = make_server(tmp_path / "idle.db").start()
    sock = _connect(handle)
    sock.sendall(_head("GET", "/v1/ping", {}))
    assert _read_response(sock)[0] == 200  # answered; the connection stays open, idle
    handle.stop()
    try:
        assert set(threading.enumerate()) <= before
        assert sock.recv(1) == b""  # the server closed its end
    finally:
        sock.close()


# -- the command -----------------------------------------------------------------------------
class _FakeHandle:
    url = "http://127.0.0.1:1/v1"

    def serve_forever(self) -> None:
        pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_make_server(path: str, **kwargs: Any) -> _FakeHandle:
        seen.update(kwargs, path=path, started=True)
        return _FakeHandle()

    monkeypatch.setattr(command, "make_server", fake_make_server)
    return seen


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_api_key_is_a_usage_error(captured: dict[str, Any], key: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--api-key", key]) == 2
    assert "--api-key" in capsys.readouterr().err
    assert "started" not in captured


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_serve_warns_when_bound_beyond_localhost_with_the_default_key(
        captured: dict[str, Any], host: str) -> None:
    result = CliRunner().invoke(command.serve, ["--host", host])
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr.lower() and "--api-key" in result.stderr
    assert host in result.stderr


@pytest.mark.parametrize(("host", "key"), [("127.0.0.1", "test-key"), ("localhost", "test-key"),
                                          ("::1", "test-key"), ("0.0.0.0", "s3cret-key")])
def test_no_warning_on_localhost_or_with_an_own_key(captured: dict[str, Any], host: str,
                                                    key: str) -> None:
    result = CliRunner().invoke(command.serve, ["--host", host, "--api-key", key])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr.lower()
