"""The connector against the local fake QBO: faults injected by the fake's switches, token
rotation across connectors, and the fake's own query language."""

from __future__ import annotations

import pytest

from saasync.connector import ConnectorContext, ReadWindow
from saasync.errors import AuthError, FatalError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Invoice
from saasync_connectors.quickbooks.connector import QuickBooksConnector
from tests.connectors.accounting.fake_server import MemoryTokenStore, oauth_env
from tests.connectors.contract.quickbooks_harness import make_connector, options
from tests.connectors.quickbooks.fake_api import FakeQuickBooks


def test_throttle_and_5xx_are_retried_and_a_malformed_page_stops() -> None:
    sleeps: list[float] = []
    with FakeQuickBooks() as fake:
        source = QuickBooksConnector(
            options(fake), ConnectorContext(env=oauth_env("QUICKBOOKS"),
                                            tokens=MemoryTokenStore()),
            retry=RetryPolicy(sleep=sleeps.append, random=lambda: 0.0),
            limiter=UnlimitedLimiter())
        fake.throttle, fake.fail = 1, 1
        assert sum(isinstance(i, Invoice) for i in source.read(ReadWindow())) == 6
        assert sleeps == [60.0, 0.0]
        fake.malformed = 1
        with pytest.raises(FatalError, match="not JSON"):
            list(source.read(ReadWindow()))


def test_an_access_token_that_expires_mid_read_is_refreshed() -> None:
    store = MemoryTokenStore()
    with FakeQuickBooks() as fake:
        source = make_connector(fake, ConnectorContext(env=oauth_env("QUICKBOOKS"),
                                                       connection="qbo", tokens=store))
        items = source.read(ReadWindow())
        next(items), next(items), next(items)  # plans, then the first customer page
        fake.oauth.expire_access_tokens()
        rest = list(items)
        assert sum(isinstance(i, Invoice) for i in rest) == 6
        assert [s["refresh_token"] for s in store.saves] == fake.oauth.issued


def test_a_spent_refresh_token_is_refused_as_invalid_grant() -> None:
    with FakeQuickBooks() as fake:
        list(make_connector(fake).read(ReadWindow()))  # spends the seed, keeps RT2 in its store
        stranger = make_connector(fake)  # a fresh store: would start again from the spent seed
        with pytest.raises(AuthError, match="invalid_grant"):
            list(stranger.read(ReadWindow()))


def test_the_fake_speaks_qbo_query_language() -> None:
    with FakeQuickBooks() as fake:
        run = fake.run
        assert "Customer" not in run("select * from Customer where Id = '3'")["QueryResponse"]
        assert len(run("select * from Customer where Active IN (true, false)")
                   ["QueryResponse"]["Customer"]) == 4
        newest = run("select * from Invoice orderby MetaData.LastUpdatedTime desc "
                     "maxresults 1")["QueryResponse"]
        assert newest["Invoice"][0]["Id"] == "136" and newest["maxResults"] == 1
        since = run("select * from Invoice where MetaData.LastUpdatedTime >= "
                    "'2026-03-12T16:00:00+00:00'")["QueryResponse"]["Invoice"]
        assert [i["Id"] for i in since] == ["135", "136"]
        with pytest.raises(ValueError):
            run("select Id from Invoice")
