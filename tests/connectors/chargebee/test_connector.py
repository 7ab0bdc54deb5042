"""Options: every mistake is a ConfigError naming the option (or the variable), never the key."""

from __future__ import annotations

from typing import Any

import pytest

from saasync.connector import Connector, ConnectorContext, load_connector_class
from saasync.errors import ConfigError
from saasync.http import SlidingWindowLimiter
from saasync_connectors.chargebee.connector import (
    DEFAULT_API_KEY_ENV,
    ChargebeeConnector,
    base_url_from,
)

KEY = "live_cb_SECRET_abc123"


def make(options: dict[str, Any], env: dict[str, str] | None = None) -> ChargebeeConnector:
    return ChargebeeConnector(options, ConnectorContext(env={"CB_KEY": KEY} if env is None else env))


def test_it_is_a_connector_named_chargebee() -> None:
    connector = make({"site": "acme", "api_key_env": "CB_KEY"})
    assert isinstance(connector, Connector) and ChargebeeConnector.name == "chargebee"


def test_the_entry_point_loads_the_connector() -> None:
    assert load_connector_class("chargebee") is ChargebeeConnector


@pytest.mark.parametrize(("options", "url"), [
    ({"site": "acme"}, "https://acme.chargebee.com/api/v2"),
    ({"site": "Acme-Test "}, "https://acme-test.chargebee.com/api/v2"),
    ({"base_url": "https://eu-proxy.example.com/chargebee/api/v2/"},
     "https://eu-proxy.example.com/chargebee/api/v2"),
    ({"base_url": "http://127.0.0.1:8123/api/v2"}, "http://127.0.0.1:8123/api/v2"),
])
def test_site_or_base_url(options: dict[str, Any], url: str) -> None:
    assert base_url_from(options) == url
    assert make({**options, "api_key_env": "CB_KEY"}).base_url == url


@pytest.mark.parametrize(("options", "named"), [
    ({}, "site: required"),
    ({"site": "acme", "base_url": "https://acme.chargebee.com/api/v2"}, "not both"),
    ({"site": "acme.chargebee.com"}, "site: must be your site name"),
    ({"base_url": "acme.chargebee.com/api/v2"}, "base_url: expected an http(s) URL"),
    ({"site": "acme", "api_key": KEY}, "api_key: unknown key"),
    ({"site": "acme", "page_size": 0}, "page_size: must be an integer 1..100"),
    ({"site": "acme", "page_size": 101}, "page_size: "),
    ({"site": "acme", "page_size": "50"}, "page_size: "),
    ({"site": "acme", "page_size": True}, "page_size: "),
    ({"site": "acme", "requests_per_minute": 0}, "requests_per_minute: "),
    ({"site": "acme", "concurrency": 0}, "concurrency: must be an integer from 1 to 50"),
    ({"site": "acme", "concurrency": 51}, "concurrency: "),
    ({"site": "acme", "concurrency": "4"}, "concurrency: "),
    ({"site": "acme", "product_catalog": "3.0"}, "product_catalog: "),
    ({"site": "acme", "api_key_env": ""}, "api_key_env: "),
])
def test_bad_options_are_config_errors_naming_the_option(options: dict[str, Any], named: str) -> None:
    options.setdefault("api_key_env", "CB_KEY")
    with pytest.raises(ConfigError) as info:
        make(options)
    assert str(info.value).startswith("chargebee connector: invalid configuration\n")
    assert named in str(info.value) and KEY not in str(info.value)


def test_a_missing_key_variable_is_named_and_the_default_variable_is_used() -> None:
    with pytest.raises(ConfigError, match=DEFAULT_API_KEY_ENV):
        make({"site": "acme"}, env={})
    with pytest.raises(ConfigError, match="CB_KEY"):
        make({"site": "acme", "api_key_env": "CB_KEY"}, env={"CB_KEY": "  "})
    assert make({"site": "acme"}, env={DEFAULT_API_KEY_ENV: KEY}).base_url.startswith("https://")


@pytest.mark.parametrize(("value", "catalog"), [("2.0", "2.0"), (2, "2.0"), (2.0, "2.0"),
                                                ("1.0", "1.0"), (1, "1.0")])
def test_product_catalog(value: Any, catalog: str) -> None:
    assert make({"site": "acme", "api_key_env": "CB_KEY", "product_catalog": value}).catalog == catalog


def test_defaults_pace_below_the_smallest_plan_limit_and_page_at_100() -> None:
    connector = make({"site": "acme", "api_key_env": "CB_KEY"})
    limiter = connector.client.limiter
    assert isinstance(limiter, SlidingWindowLimiter) and (limiter.rate, limiter.per) == (150, 63.0)
    assert connector.page_size == 100 and connector.catalog == "2.0"
    custom = make({"site": "acme", "api_key_env": "CB_KEY", "requests_per_minute": 1000,
                   "page_size": 25})
    assert isinstance(custom.client.limiter, SlidingWindowLimiter)
    assert custom.client.limiter.rate == 1000 and custom.page_size == 25
    assert KEY not in repr(connector) and KEY not in repr(connector.client)
