"""OAuth2 with refresh-token rotation: seeding, saving at once, reuse, 401 round trip, refusals,
retries of the token call, and no token ever shown in a log or an error."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
import structlog
from http_fakes import FakeClock, make_policy
from responses import matchers

from saasync.errors import AuthError, ConfigError, FatalError
from saasync.http import HttpClient, Outcome, SecretRegistry, classify_response
from saasync.http.oauth2 import (
    OAuth2Auth,
    OAuth2JsonClient,
    TokenManager,
    TokenSet,
    decimal_json,
    fingerprint,
    oauth2_settings,
    passing_401,
)

TOKEN_URL = "https://identity.example.test/connect/token"
API = "https://api.example.test/v2"
SEED = "RT-seed-0000-secret-refresh"
CLIENT_ID, CLIENT_SECRET = "client-id-123", "client-secret-456"
ENV = {"ACME_CLIENT_ID": CLIENT_ID, "ACME_CLIENT_SECRET": CLIENT_SECRET,
       "ACME_REFRESH_TOKEN": SEED}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


class Store:
    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {"acme": doc} if doc else {}
        self.saves: list[dict[str, Any]] = []

    def load_tokens(self, connection: str) -> dict[str, Any] | None:
        return self.docs.get(connection)

    def save_tokens(self, connection: str, tokens: Mapping[str, Any]) -> None:
        self.docs[connection] = dict(tokens)
        self.saves.append(dict(tokens))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def settings(**options: Any) -> Any:
    return oauth2_settings("acme", {"token_url": TOKEN_URL, **options}, provider="Acme",
                           default_token_url=TOKEN_URL, env_prefix="ACME",
                           reauthorize="reconnect the app in Acme's settings.")


def manager(clock: FakeClock, store: Store | None, env: Mapping[str, str] = ENV,
            secrets: SecretRegistry | None = None) -> TokenManager:
    return TokenManager(settings(), env, store=store, connection="acme",
                        secrets=secrets if secrets is not None else SecretRegistry(),
                        retry=make_policy(clock), now=lambda: NOW)


def token_reply(rsps: responses.RequestsMock, presented: str, access: str, refresh: str | None,
                expires_in: int = 1800) -> None:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                            "expires_in": expires_in}
    if refresh is not None:
        body["refresh_token"] = refresh
    rsps.post(TOKEN_URL, json=body, match=[
        matchers.urlencoded_params_matcher({"grant_type": "refresh_token",
                                            "refresh_token": presented}),
        matchers.header_matcher({"Authorization": BASIC})])


def api_client(clock: FakeClock, tokens: TokenManager,
               secrets: SecretRegistry) -> OAuth2JsonClient:
    client = HttpClient(API, auth=OAuth2Auth(tokens), classifier=passing_401(classify_response),
                        retry=make_policy(clock), secrets=secrets, clock=clock.monotonic)
    return OAuth2JsonClient(client, tokens)


def test_first_run_seeds_from_env_and_saves_the_rotated_pair_at_once(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    store = Store()
    token_reply(rsps, SEED, "AT-1", "RT-2")
    tokens = manager(clock, store)
    assert tokens.access_token() == "AT-1"
    assert len(store.saves) == 1
    saved = store.saves[0]
    assert saved["refresh_token"] == "RT-2" and saved["access_token"] == "AT-1"
    assert saved["seed_sha256"] == fingerprint(SEED)
    assert saved["expires_at"] == (NOW + timedelta(seconds=1800)).isoformat()
    assert tokens.access_token() == "AT-1"  # still valid: no second call


def test_a_stored_access_token_with_time_left_is_reused_without_refreshing(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    doc = TokenSet("RT-9", "AT-9", NOW + timedelta(minutes=20),
                   seed_sha256=fingerprint(SEED)).as_doc()
    assert manager(clock, Store(doc)).access_token() == "AT-9"


def test_an_expiring_stored_token_is_refreshed_with_the_stored_refresh_token_not_the_seed(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    doc = TokenSet("RT-9", "AT-9", NOW + timedelta(seconds=30),
                   seed_sha256=fingerprint(SEED)).as_doc()
    store = Store(doc)
    token_reply(rsps, "RT-9", "AT-10", "RT-10")
    assert manager(clock, store).access_token() == "AT-10"
    assert store.docs["acme"]["refresh_token"] == "RT-10"
    assert store.docs["acme"]["seed_sha256"] == fingerprint(SEED)


def test_a_new_seed_in_the_environment_replaces_stored_tokens(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    doc = TokenSet("RT-old", "AT-old", NOW - timedelta(hours=1),
                   seed_sha256=fingerprint(SEED)).as_doc()
    store = Store(doc)
    token_reply(rsps, "RT-reauthorized", "AT-new", "RT-new")
    env = {**ENV, "ACME_REFRESH_TOKEN": "RT-reauthorized"}
    assert manager(clock, store, env).access_token() == "AT-new"
    assert store.docs["acme"]["seed_sha256"] == fingerprint("RT-reauthorized")


def test_a_provider_that_does_not_rotate_keeps_the_refresh_token(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    store = Store()
    token_reply(rsps, SEED, "AT-1", None)
    manager(clock, store).access_token()
    assert store.docs["acme"]["refresh_token"] == SEED


def test_invalid_grant_stops_with_how_to_reauthorize_and_saves_nothing(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    store = Store()
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant",
                                           "error_description": f"token {SEED} was used"})
    with pytest.raises(AuthError) as caught:
        manager(clock, store).access_token()
    message = str(caught.value)
    assert "invalid_grant" in message and "reconnect the app" in message
    assert "ACME_REFRESH_TOKEN" in message and SEED not in message
    assert store.saves == []


def test_refused_client_credentials_name_the_variables(rsps: responses.RequestsMock,
                                                       clock: FakeClock) -> None:
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(AuthError, match="ACME_CLIENT_ID and ACME_CLIENT_SECRET"):
        manager(clock, Store()).access_token()


def test_token_endpoint_5xx_and_429_are_retried(rsps: responses.RequestsMock,
                                                clock: FakeClock) -> None:
    rsps.post(TOKEN_URL, status=503, body="busy")
    rsps.post(TOKEN_URL, status=429, headers={"Retry-After": "7"})
    token_reply(rsps, SEED, "AT-1", "RT-2")
    assert manager(clock, Store()).access_token() == "AT-1"
    assert len(clock.sleeps) == 2 and clock.sleeps[1] == 7.0


def test_a_401_refreshes_once_and_resends(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    secrets = SecretRegistry()
    store = Store()
    token_reply(rsps, SEED, "AT-1", "RT-2")
    rsps.get(f"{API}/things", status=401, json={"Title": "Unauthorized"},
             match=[matchers.header_matcher({"Authorization": "Bearer AT-1"})])
    token_reply(rsps, "RT-2", "AT-2", "RT-3")
    rsps.get(f"{API}/things", json={"Things": [{"Amount": 12.30}]},
             match=[matchers.header_matcher({"Authorization": "Bearer AT-2"})])
    tokens = manager(clock, store, secrets=secrets)
    body = api_client(clock, tokens, secrets).request_json("GET", "things")
    assert body == {"Things": [{"Amount": Decimal("12.30")}]}
    assert [s["refresh_token"] for s in store.saves] == ["RT-2", "RT-3"]


def test_a_second_401_after_a_fresh_token_stops_the_run(rsps: responses.RequestsMock,
                                                        clock: FakeClock) -> None:
    secrets = SecretRegistry()
    token_reply(rsps, SEED, "AT-1", "RT-2")
    rsps.get(f"{API}/things", status=401)
    token_reply(rsps, "RT-2", "AT-2", "RT-3")
    rsps.get(f"{API}/things", status=401)
    tokens = manager(clock, Store(), secrets=secrets)
    with pytest.raises(AuthError, match="freshly refreshed"):
        api_client(clock, tokens, secrets).request_json("GET", "things")


def test_refresh_after_another_caller_already_refreshed_is_a_no_op(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    token_reply(rsps, SEED, "AT-1", "RT-2")
    tokens = manager(clock, Store())
    tokens.access_token()
    assert tokens.refresh(rejected="AT-0") == "AT-1"  # AT-0 was replaced already: no call


def test_missing_variables_are_config_errors_naming_them_only(clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="ACME_CLIENT_SECRET"):
        manager(clock, Store(), {"ACME_CLIENT_ID": CLIENT_ID})
    with pytest.raises(ConfigError, match="ACME_REFRESH_TOKEN") as caught:
        manager(clock, Store(), {"ACME_CLIENT_ID": CLIENT_ID,
                                 "ACME_CLIENT_SECRET": CLIENT_SECRET})
    assert CLIENT_SECRET not in str(caught.value)


def test_options_are_checked_and_variable_names_default_to_the_prefix() -> None:
    named = settings(client_id_env="MY_ID")
    assert (named.client_id_env, named.client_secret_env, named.refresh_token_env) == \
        ("MY_ID", "ACME_CLIENT_SECRET", "ACME_REFRESH_TOKEN")
    with pytest.raises(ConfigError, match="token_url"):
        settings(token_url="not a url")
    with pytest.raises(ConfigError, match="refresh_token_env"):
        settings(refresh_token_env="")


def test_no_token_or_secret_reaches_a_log_or_an_error(rsps: responses.RequestsMock,
                                                      clock: FakeClock) -> None:
    secrets = SecretRegistry()
    token_reply(rsps, SEED, "AT-secret-1", "RT-secret-2")
    rsps.get(f"{API}/things", status=500, body="echo AT-secret-1 RT-secret-2")
    rsps.get(f"{API}/things", status=400, body="bad request for AT-secret-1")
    tokens = manager(clock, Store(), secrets=secrets)
    with structlog.testing.capture_logs() as logs, pytest.raises(Exception) as caught:
        api_client(clock, tokens, secrets).request_json("GET", "things")
    shown = repr(logs) + str(caught.value) + repr(tokens) + repr(OAuth2Auth(tokens))
    for secret in ("AT-secret-1", "RT-secret-2", SEED, CLIENT_SECRET):
        assert secret not in shown


def test_bodies_decode_with_exact_decimals_and_garbage_is_fatal(rsps: responses.RequestsMock,
                                                                clock: FakeClock) -> None:
    assert decimal_json('{"a": 0.1, "b": 3}') == {"a": Decimal("0.1"), "b": 3}
    secrets = SecretRegistry()
    token_reply(rsps, SEED, "AT-1", "RT-2")
    rsps.get(f"{API}/things", body="<html>maintenance</html>")
    tokens = manager(clock, Store(), secrets=secrets)
    with pytest.raises(FatalError, match="not JSON"):
        api_client(clock, tokens, secrets).request_json("GET", "things")


def test_passing_401_leaves_every_other_status_to_the_vendor_classifier() -> None:
    seen: list[int] = []

    def vendor(response: Any) -> Outcome:
        seen.append(response.status_code)
        return Outcome.fatal("vendor says no")

    classify = passing_401(vendor)
    for status, kind in ((401, "ok"), (403, "fatal"), (200, "fatal")):
        fake = type("R", (), {"status_code": status})()
        assert classify(fake).kind == kind
    assert seen == [403, 200]


def test_token_docs_round_trip_and_garbage_is_ignored() -> None:
    tokens = TokenSet("RT", "AT", NOW, NOW + timedelta(days=100), "abc", NOW)
    assert TokenSet.from_doc(tokens.as_doc()) == tokens
    assert TokenSet.from_doc({"access_token": "AT"}) is None
    assert TokenSet.from_doc({"refresh_token": "RT", "expires_at": "garbage"}) == TokenSet("RT")


def test_the_token_call_is_a_form_post_with_basic_client_credentials(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    token_reply(rsps, SEED, "AT-1", "RT-2")
    manager(clock, Store()).access_token()
    sent = rsps.calls[0].request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(str(sent.body)) == {"grant_type": ["refresh_token"], "refresh_token": [SEED]}
