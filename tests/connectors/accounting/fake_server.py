"""What the QuickBooks and Xero fakes share: a threaded local HTTP server and an OAuth2
token endpoint that rotates refresh tokens the way both vendors do.

The token endpoint takes ``grant_type=refresh_token`` with HTTP Basic client
credentials, answers ``{access_token, refresh_token, expires_in, token_type}``, and
makes every refresh token single-use: presenting one twice answers 400
``{"error": "invalid_grant"}``, as does an unknown one. Access tokens are honoured until
:meth:`FakeOAuth.expire_access_tokens` (a data call then answers 401).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from saasync.server.closing import ClosingHTTPServer

CLIENT_ID = "ABfakeClientId0123456789"
CLIENT_SECRET = "fake-client-secret-0123456789"
FIRST_REFRESH = "RT1-fake-initial-refresh-token-0001"


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list → JSON; str/bytes → as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


class FakeOAuth:
    """Token endpoint state: the live refresh token(s) and access tokens."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
                 refresh_token: str = FIRST_REFRESH, expires_in: int = 3600) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.refresh_tokens = {refresh_token}
        self.access_tokens: set[str] = set()
        self.issued: list[str] = []  # refresh tokens issued, in order
        self.refreshes = 0
        self._counter = itertools.count(2)
        self._lock = threading.Lock()

    def token(self, request: Request) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return Reply(401, {"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type"})
        with self._lock:
            presented = form.get("refresh_token", "")
            if presented not in self.refresh_tokens:
                return Reply(400, {"error": "invalid_grant"})
            self.refresh_tokens.discard(presented)
            n = next(self._counter)
            refresh, access = f"RT{n}-fake-rotated-refresh-{n:04d}", f"AT{n}-fake-access-{n:04d}"
            self.refresh_tokens.add(refresh)
            self.access_tokens.add(access)
            self.issued.append(refresh)
            self.refreshes += 1
        return Reply(200, {"access_token": access, "refresh_token": refresh,
                           "token_type": "bearer", "expires_in": self.expires_in,
                           "x_refresh_token_expires_in": 8726400})

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.access_tokens

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access_tokens.clear()


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 (port 0) that hands every request to :meth:`handle`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._server: ClosingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle(self, request: Request) -> Reply:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, parts.path,
                                  {k: v[0] for k, v in parse_qs(parts.query).items()},
                                  {k: v for k, v in self.headers.items()},
                                  self.rfile.read(length) if length else b"")
                fake.requests.append(request)
                reply = fake.handle(request)
                body = reply.body
                if isinstance(body, dict | list):
                    payload = json.dumps(body).encode()
                    content_type = "application/json"
                else:
                    payload = body.encode() if isinstance(body, str) else (body or b"")
                    content_type = "text/html"
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ClosingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class MemoryTokenStore:
    """A TokenStore in memory (the state store's role), recording every save."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.saves: list[dict[str, Any]] = []

    def load_tokens(self, connection: str) -> dict[str, Any] | None:
        doc = self.docs.get(connection)
        return dict(doc) if doc is not None else None

    def save_tokens(self, connection: str, tokens: Mapping[str, Any]) -> None:
        self.docs[connection] = dict(tokens)
        self.saves.append(dict(tokens))


def oauth_env(prefix: str, refresh_token: str = FIRST_REFRESH) -> dict[str, str]:
    """The environment a connector reads its OAuth2 secrets from (default variable names)."""
    return {f"{prefix}_CLIENT_ID": CLIENT_ID, f"{prefix}_CLIENT_SECRET": CLIENT_SECRET,
            f"{prefix}_REFRESH_TOKEN": refresh_token}
