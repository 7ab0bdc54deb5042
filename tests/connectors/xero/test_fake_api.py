"""The connector against the local fake Xero: faults injected by the fake's switches and
token rotation across connectors."""

from __future__ import annotations

import pytest

from saasync.connector import ConnectorContext, ReadWindow
from saasync.errors import AuthError, FatalError, QuotaExhaustedError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Invoice
from saasync_connectors.xero.connector import XeroConnector
from tests.connectors.accounting.fake_server import MemoryTokenStore, oauth_env
from tests.connectors.contract.xero_harness import make_connector, options
from tests.connectors.xero.fake_api import FakeXero


def test_throttle_and_5xx_are_retried_the_daily_cap_and_garbage_stop() -> None:
    sleeps: list[float] = []
    with FakeXero() as fake:
        source = XeroConnector(
            options(fake), ConnectorContext(env=oauth_env("XERO"), tokens=MemoryTokenStore()),
            retry=RetryPolicy(sleep=sleeps.append, random=lambda: 0.0, max_retry_after=90.0),
            limiter=UnlimitedLimiter())
        fake.throttle, fake.fail = 1, 1
        assert sum(isinstance(i, Invoice) for i in source.read(ReadWindow())) == 8
        assert sleeps == [1.0, 0.0]
        fake.day_limit = 1
        with pytest.raises(QuotaExhaustedError, match="daily"):
            list(source.read(ReadWindow()))
        assert sleeps == [1.0, 0.0]
        fake.malformed = 1
        with pytest.raises(FatalError, match="not JSON"):
            list(source.read(ReadWindow()))


def test_without_pagination_info_a_short_page_ends_the_list() -> None:
    with FakeXero(with_pagination=False) as fake:
        assert sum(isinstance(i, Invoice) for i in make_connector(fake).read(ReadWindow())) == 8


def test_an_expired_access_token_is_refreshed_and_a_spent_seed_refused() -> None:
    store = MemoryTokenStore()
    with FakeXero() as fake:
        source = make_connector(fake, ConnectorContext(env=oauth_env("XERO"), tokens=store))
        list(source.read(ReadWindow()))
        fake.oauth.expire_access_tokens()
        assert sum(isinstance(i, Invoice) for i in source.read(ReadWindow())) == 8
        assert [s["refresh_token"] for s in store.saves] == fake.oauth.issued
        with pytest.raises(AuthError, match="invalid_grant"):
            list(make_connector(fake).read(ReadWindow()))  # a fresh store, the spent seed


def test_a_wrong_tenant_is_refused() -> None:
    with FakeXero() as fake:
        source = make_connector(fake, tenant_id="00000000-0000-0000-0000-000000000000")
        with pytest.raises(AuthError, match="403"):
            list(source.read(ReadWindow()))
