"""Optional abilities are Protocols checked with ``isinstance``: the real classes answer as
the code that asks them expects."""

from __future__ import annotations

import sys
import types
from datetime import datetime
from typing import ClassVar

import pytest

from saasync.connector import OptionsModelDeclaring, Partitionable, load_connector_class
from saasync.destinations.base import customer_since_of
from saasync.destinations.local import LocalStore
from saasync.http.ratelimit import Paced, SlidingWindowLimiter, UnlimitedLimiter
from saasync.init_templates import SUMMARIES, declared_options
from saasync.models import Customer


def test_customer_since_is_read_from_a_store_that_can_tell_and_nothing_otherwise() -> None:
    with LocalStore() as store:
        store.ensure_data_source("billing")
        store.upsert_customer(Customer(external_id="c1", name="One",
                                       created_at=datetime(2024, 1, 5)))
        assert set(customer_since_of(store)) == {"c1"}
    assert customer_since_of(object()) == {}


def test_a_limiter_with_a_pace_is_paced_and_the_unlimited_one_is_not() -> None:
    assert isinstance(SlidingWindowLimiter(10, 2.0), Paced)
    assert not isinstance(UnlimitedLimiter(), Paced)


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_every_builtin_connector_declares_an_options_model(name: str) -> None:
    factory = load_connector_class(name)
    assert isinstance(factory, OptionsModelDeclaring)
    assert declared_options(name, factory)


def test_a_plugin_lists_its_options_on_the_class_or_in_its_module(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class OnClass:
        OPTIONS: ClassVar[dict[str, str]] = {"region": "eu or us"}

    class Nothing:
        pass

    assert [(o.name, o.meaning) for o in declared_options("x", OnClass)] == [("region", "eu or us")]
    assert declared_options("x", Nothing) == []
    module = types.ModuleType("acme_options")
    module.OPTIONS = ["api_key_env"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_options", module)
    Nothing.__module__ = "acme_options"
    assert [o.name for o in declared_options("x", Nothing)] == ["api_key_env"]


def test_the_files_connector_can_partition_and_a_subclass_may_opt_out() -> None:
    from saasync_connectors.files.connector import FilesConnector

    class Unsplittable(FilesConnector):
        partition = None  # type: ignore[assignment]

    assert issubclass(FilesConnector, Partitionable)
    assert not issubclass(Unsplittable, Partitionable)
