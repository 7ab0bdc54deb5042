"""Secrets never reach logs, reprs or error messages."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
import structlog
from http_fakes import BASE, KEY, FakeClock, make_client
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from saasync.errors import ConfigError, SaasyncError
from saasync.http import (
    BasicAuth,
    BearerAuth,
    HeaderKeyAuth,
    SecretRegistry,
    read_secret,
    redact_secrets,
    redact_url,
    redact_value,
)

B64 = base64.b64encode(f"{KEY}:".encode()).decode()


def test_sensitive_keys_are_masked_case_insensitively_and_nested() -> None:
    event = {
        "event": "x",
        "headers": {"Authorization": "Basic abc", "X-Gaiia-Api-Key": "g", "Accept": "json"},
        "items": [{"API_KEY": "k", "client-secret": "c", "name": "n"}, ("Token", "plain")],
        "password": "p",
        "refresh_token": None,
    }
    out = redact_secrets(None, "info", event)
    assert out["headers"] == {"Authorization": "***", "X-Gaiia-Api-Key": "***", "Accept": "json"}
    assert out["items"][0] == {"API_KEY": "***", "client-secret": "***", "name": "n"}
    assert out["items"][1] == ["Token", "plain"]
    assert out["password"] == "***" and out["refresh_token"] is None


def test_registered_secrets_are_masked_anywhere() -> None:
    registry = SecretRegistry([KEY, ""])
    event = {"event": f"called with {KEY}", "nested": {"deep": [f"x{KEY}y"]},
             "error": ValueError(f"bad key {KEY}"), "count": 3}
    out = registry.processor(None, "info", event)
    assert out == {"event": "called with ***", "nested": {"deep": ["x***y"]},
                   "error": "bad key ***", "count": 3}
    assert KEY not in repr(registry) and len(registry) == 1


def test_longer_secret_masked_whole() -> None:
    registry = SecretRegistry(["abcd1234", "abcd1234wxyz"])
    assert registry.mask("k=abcd1234wxyz") == "k=***"


def test_redact_url() -> None:
    registry = SecretRegistry([KEY])
    url = f"https://user:pw@api.test:8443/v1/x?api_key=zz&page=2&q={KEY}"
    assert redact_url(url, registry) == "https://api.test:8443/v1/x?api_key=***&page=2&q=***"


@given(before=st.text(), after=st.text(),
       secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=8, max_size=40))
def test_a_registered_secret_never_survives(before: str, after: str, secret: str) -> None:
    registry = SecretRegistry([secret])
    assert secret not in redact_value({"v": [before + secret + after]}, registry)["v"][0]


def test_auth_objects_hide_their_secret() -> None:
    for auth in (BasicAuth.api_key(KEY), BearerAuth(KEY), HeaderKeyAuth("X-Gaiia-Api-Key", KEY)):
        assert KEY not in repr(auth) and KEY not in str(auth) and KEY not in f"{auth!r}"
        assert KEY in auth.secrets
    assert B64 in BasicAuth.api_key(KEY).secrets


def test_basic_auth_is_key_as_username_empty_password() -> None:
    prepared = requests.Request("GET", "https://x.test/").prepare()
    assert BasicAuth.api_key("token")(prepared).headers["Authorization"] == "Basic dG9rZW46"


def test_read_secret_names_the_variable_not_the_value() -> None:
    assert read_secret({"CM_KEY": f" {KEY} "}, "CM_KEY") == KEY
    with pytest.raises(ConfigError, match="CHARTMOGUL_API_KEY"):
        read_secret({}, "CHARTMOGUL_API_KEY")


# -- the whole path: every captured log line, searched for the key ---------------------------

@pytest.fixture
def rendered_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    caplog.set_level(logging.DEBUG)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info,
                    SecretRegistry([KEY, B64]).processor, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
    )
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


def exercise(client: Any) -> list[SaasyncError]:
    errors: list[SaasyncError] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(f"{BASE}/ping", json={"data": "pong!"})
        rsps.get(f"{BASE}/ping", status=500, body=f"upstream saw key {KEY}")
        rsps.get(f"{BASE}/ping", body=requests.ConnectionError(f"failed: ?api_key={KEY}"))
        rsps.get(f"{BASE}/ping", json={})
        rsps.get(f"{BASE}/ping", status=401, json={"message": f"bad key {KEY} {B64}"})
        rsps.post(f"{BASE}/plans", status=422, json={"errors": {"key": KEY}})
        rsps.get(f"{BASE}/search", json={"entries": []})
        client.get_json("/ping")
        client.get_json("/ping")
        client.get_json("/search", params={"api_key": KEY, "q": KEY})
        for call in (lambda: client.get_json("/ping"), lambda: client.post_json("/plans", {})):
            try:
                call()
            except SaasyncError as exc:
                errors.append(exc)
    return errors


def test_no_log_output_contains_the_key(rendered_logs: io.StringIO,
                                        caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(FakeClock())
    errors = exercise(client)
    assert len(errors) == 2
    log = structlog.get_logger("test")
    for error in errors:
        try:
            raise error
        except SaasyncError:
            log.exception("sync.failed", error=error, body=getattr(error, "body", None))
    output = rendered_logs.getvalue() + caplog.text + "".join(str(e) for e in errors)
    assert output.count('"http.request"') == 7
    assert '"http.retry"' in output
    assert KEY not in output and B64 not in output


def test_client_scrubs_its_own_events_even_without_the_processor() -> None:
    client = make_client(FakeClock())
    with capture_logs() as captured:
        exercise(client)
    events = [e for e in captured if e["event"] == "http.request"]
    assert len(events) == 7
    assert {"method", "url", "status", "duration_ms", "attempt"} <= set(events[0])
    assert KEY not in repr(captured) and B64 not in repr(captured)
