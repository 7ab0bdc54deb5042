"""HttpClient: classification into error classes, retries through the policy, safety checks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests
import responses
from http_fakes import BASE, KEY, WALL_START, CountingLimiter, FakeClock, make_client
from responses import matchers

from saasync.errors import (
    AuthError,
    BadRecordError,
    FatalError,
    QuotaExhaustedError,
    RateLimitedError,
    RetriableError,
)
from saasync.http import HeaderKeyAuth, Outcome, Timeouts, classify_response

B64 = base64.b64encode(f"{KEY}:".encode()).decode()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_get_json_sends_auth_defaults_and_timeouts(rsps: responses.RequestsMock,
                                                   clock: FakeClock) -> None:
    rsps.get(f"{BASE}/ping", json={"data": "pong!"},
             match=[matchers.header_matcher({"Authorization": f"Basic {B64}",
                                             "X-Extra": "1"})])
    client = make_client(clock, headers={"X-Extra": "1"}, timeouts=Timeouts(3.0, 7.0))
    assert client.get_json("/ping") == {"data": "pong!"}
    assert rsps.calls[0].request.headers["User-Agent"].startswith("saasync/")
    assert rsps.calls[0].request.req_kwargs["timeout"] == (3.0, 7.0)


def test_default_timeouts_are_10_and_60(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/ping", json={})
    make_client(clock).get_json("ping")
    assert rsps.calls[0].request.req_kwargs["timeout"] == (10.0, 60.0)


def test_post_json_and_empty_body(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.post(f"{BASE}/customers", json={"uuid": "cus_1"}, status=201,
              match=[matchers.json_params_matcher({"name": "A"})])
    rsps.delete(f"{BASE}/customers/cus_1", status=204)
    client = make_client(clock)
    assert client.post_json("/customers", {"name": "A"}) == {"uuid": "cus_1"}
    assert client.request_json("DELETE", "/customers/cus_1") is None


def test_non_json_success_is_fatal(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/ping", body="<html>proxy</html>", status=200)
    with pytest.raises(FatalError, match="not JSON"):
        make_client(clock).get_json("/ping")


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retried_and_never_show_the_key(
        rsps: responses.RequestsMock, clock: FakeClock, status: int) -> None:
    # A hostile server that echoes the credentials back must not get them into the message.
    rsps.get(f"{BASE}/ping", status=status,
             json={"code": status, "message": f"No valid API key provided: {KEY} / {B64}"})
    with pytest.raises(AuthError) as info:
        make_client(clock).get_json("/ping")
    text = str(info.value) + repr(info.value)
    assert KEY not in text and B64 not in text
    assert "No valid API key provided" in text and str(status) in text
    assert len(rsps.calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize(("status", "body", "expected"), [
    (422, {"errors": {"name": "Has already been taken."}}, {"errors": {"name": "Has already been taken."}}),
    (400, {"code": 400, "message": "Parameter \"name\" is missing"}, {"code": 400, "message": "Parameter \"name\" is missing"}),
    (404, "Not here", "Not here"),
    (409, {"error": "conflict"}, {"error": "conflict"}),
])
def test_other_4xx_become_bad_record_with_status_and_body(
        rsps: responses.RequestsMock, clock: FakeClock, status: int, body: object,
        expected: object) -> None:
    if isinstance(body, str):
        rsps.post(f"{BASE}/plans", status=status, body=body)
    else:
        rsps.post(f"{BASE}/plans", status=status, json=body)
    with pytest.raises(BadRecordError) as info:
        make_client(clock).post_json("/plans", {"name": ""})
    assert info.value.status == status and info.value.body == expected
    assert len(rsps.calls) == 1


def test_bad_record_body_is_redacted(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.post(f"{BASE}/plans", status=422, json={"echo": KEY, "api_key": "other"})
    with pytest.raises(BadRecordError) as info:
        make_client(clock).post_json("/plans", {})
    assert info.value.body == {"echo": "***", "api_key": "***"}


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_transient_statuses_are_retried(rsps: responses.RequestsMock, clock: FakeClock,
                                        status: int) -> None:
    rsps.get(f"{BASE}/plans", status=status, body="oops")
    rsps.get(f"{BASE}/plans", status=status, body="oops")
    rsps.get(f"{BASE}/plans", json={"plans": []})
    assert make_client(clock).get_json("/plans") == {"plans": []}
    assert clock.sleeps == [0.25, 0.5]


def test_retries_run_out_as_fatal_error(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    for _ in range(3):
        rsps.get(f"{BASE}/plans", status=500, body="500 Internal Server Error")
    with pytest.raises(FatalError, match="gave up after 3 attempts") as info:
        make_client(clock, policy={"max_attempts": 3}).get_json("/plans")
    assert isinstance(info.value.__cause__, RetriableError)


def test_429_honours_retry_after_seconds(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/plans", status=429, headers={"Retry-After": "3"})
    rsps.get(f"{BASE}/plans", json={"ok": 1})
    assert make_client(clock).get_json("/plans") == {"ok": 1}
    assert clock.sleeps == [3.0]


def test_429_honours_retry_after_http_date(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/plans", status=429,
             headers={"Retry-After": "Wed, 01 May 2024 12:00:12 GMT"})
    rsps.get(f"{BASE}/plans", json={})
    make_client(clock).get_json("/plans")
    assert clock.sleeps == [12.0]


def test_429_honours_x_ratelimit_reset(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    reset = int(WALL_START.timestamp()) + 17
    rsps.get(f"{BASE}/plans", status=429, headers={"X-RateLimit-Reset": str(reset)})
    rsps.get(f"{BASE}/plans", json={})
    make_client(clock).get_json("/plans")
    assert clock.sleeps == [17.0]


def test_429_without_hint_backs_off(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/plans", status=429)
    rsps.get(f"{BASE}/plans", json={})
    make_client(clock).get_json("/plans")
    assert clock.sleeps == [0.25]


def test_429_with_a_day_long_wait_stops(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/Invoices", status=429, headers={"Retry-After": "66975"},
             body="Too many requests in the last minute (day)")
    with pytest.raises(QuotaExhaustedError) as info:
        make_client(clock).get_json("/Invoices")
    assert isinstance(info.value.__cause__, RateLimitedError)
    assert clock.sleeps == []


@pytest.mark.parametrize("error", [requests.ConnectionError("reset by peer"),
                                   requests.ReadTimeout("read timed out"),
                                   requests.ConnectTimeout("connect timed out")])
def test_connection_errors_and_timeouts_are_retried(rsps: responses.RequestsMock,
                                                    clock: FakeClock, error: Exception) -> None:
    rsps.get(f"{BASE}/plans", body=error)
    rsps.get(f"{BASE}/plans", json={"plans": [1]})
    assert make_client(clock).get_json("/plans") == {"plans": [1]}
    assert clock.sleeps == [0.25]


def test_redirects_are_not_followed(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    rsps.get(f"{BASE}/plans", status=302, headers={"Location": "https://evil.test/plans"})
    with pytest.raises(FatalError, match="redirect to https://evil.test/plans"):
        make_client(clock).get_json("/plans")
    assert len(rsps.calls) == 1


def test_absolute_urls_only_on_the_configured_host(rsps: responses.RequestsMock,
                                                   clock: FakeClock) -> None:
    rsps.get("https://api.example.test/v2/other", json={"ok": True})
    client = make_client(clock)
    assert client.get_json("https://api.example.test/v2/other") == {"ok": True}
    with pytest.raises(FatalError, match="refusing to send credentials"):
        client.get_json("https://elsewhere.test/v1/plans")
    with pytest.raises(FatalError):
        client.get_json("http://api.example.test/v1/plans")  # downgraded scheme


def test_every_attempt_acquires_the_limiter(rsps: responses.RequestsMock,
                                            clock: FakeClock) -> None:
    rsps.get(f"{BASE}/plans", status=503)
    rsps.get(f"{BASE}/plans", json={})
    limiter = CountingLimiter()
    make_client(clock, limiter=limiter).get_json("/plans")
    assert limiter.acquired == 2


def test_default_classifier_table() -> None:
    def resp(status: int) -> requests.Response:
        r = requests.Response()
        r.status_code = status
        return r

    kinds = {s: classify_response(resp(s)).kind.value
             for s in (200, 201, 204, 301, 400, 401, 403, 404, 422, 429, 500, 501, 503)}
    assert kinds == {200: "ok", 201: "ok", 204: "ok", 301: "fatal", 400: "bad_record",
                     401: "auth_error", 403: "auth_error", 404: "bad_record",
                     422: "bad_record", 429: "rate_limited", 500: "retry", 501: "fatal",
                     503: "retry"}


# -- custom classifiers: how connectors plug in their vendor's signals ------------------------

def stripe_classifier(response: requests.Response) -> Outcome:
    """Stripe-Should-Retry overrides the status: false forbids a retry, true forces one."""
    flag = response.headers.get("Stripe-Should-Retry")
    if flag == "false" and response.status_code >= 400:
        return Outcome.fatal("Stripe says this request must not be retried")
    if flag == "true":
        return Outcome.retry()
    if response.status_code == 409:
        return Outcome.fatal("idempotency conflict")
    return classify_response(response)


def gaiia_classifier(response: requests.Response) -> Outcome:
    """gaiia throttles with HTTP 200 and errors[].extensions.code = RATE_LIMITED."""
    if response.status_code == 200:
        for error in (response.json().get("errors") or []):
            ext = error.get("extensions") or {}
            if ext.get("code") == "RATE_LIMITED":
                return Outcome.rate_limited(at=datetime.fromisoformat(ext["retryAt"]))
            if ext.get("code") in ("UNAUTHORIZED", "FORBIDDEN"):
                return Outcome.auth_error(error.get("message"))
    return classify_response(response)


def test_stripe_should_retry_false_is_not_retried(rsps: responses.RequestsMock,
                                                  clock: FakeClock) -> None:
    rsps.post(f"{BASE}/invoices", status=500, headers={"Stripe-Should-Retry": "false"})
    with pytest.raises(FatalError, match="must not be retried"):
        make_client(clock, classifier=stripe_classifier).post_json("/invoices", {})
    assert len(rsps.calls) == 1


def test_stripe_should_retry_true_forces_a_retry(rsps: responses.RequestsMock,
                                                 clock: FakeClock) -> None:
    rsps.post(f"{BASE}/invoices", status=409, headers={"Stripe-Should-Retry": "true"})
    rsps.post(f"{BASE}/invoices", json={"id": "in_1"})
    assert make_client(clock, classifier=stripe_classifier).post_json("/invoices", {}) == {"id": "in_1"}


def test_gaiia_rate_limited_200_waits_until_retry_at(rsps: responses.RequestsMock,
                                                     clock: FakeClock) -> None:
    retry_at = (WALL_START + timedelta(seconds=4.5)).strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    rsps.post("https://api.gaiia.test/graphql", json={"errors": [{"message": "slow down",
              "extensions": {"code": "RATE_LIMITED", "retryAt": retry_at}}]})
    rsps.post("https://api.gaiia.test/graphql", json={"data": {"invoices": {"nodes": []}}})
    client = make_client(clock, base="https://api.gaiia.test", classifier=gaiia_classifier,
                         auth=HeaderKeyAuth("X-Gaiia-Api-Key", KEY))
    assert client.post_json("/graphql", {"query": "{}"}) == {"data": {"invoices": {"nodes": []}}}
    assert clock.sleeps == [4.5]
    assert rsps.calls[0].request.headers["X-Gaiia-Api-Key"] == KEY
