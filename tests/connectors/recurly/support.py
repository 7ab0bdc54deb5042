"""Shared by the Recurly tests: the fixture objects as the connector decodes them, and a
connector whose retries never really sleep."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy
from saasync_connectors.recurly.connector import RecurlyConnector
from tests.connectors.recurly.fake_api import KEY, SITE

ENV_VAR = "RECURLY_TEST_KEY"
NOW = datetime(2024, 4, 1, 12, 0, 0, tzinfo=UTC)
_SITE: dict[str, list[dict[str, Any]]] = json.loads(SITE.read_text(encoding="utf-8"),
                                                    parse_float=Decimal)


def obj(collection: str, obj_id: str) -> dict[str, Any]:
    """A fresh copy of one fixture object, numbers as Decimal (as the connector reads them)."""
    found = next(o for o in _SITE[collection] if o["id"] == obj_id)
    return copy.deepcopy(found)


def all_of(collection: str) -> list[dict[str, Any]]:
    return copy.deepcopy(_SITE[collection])


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return float(o)  # shortest repr: the same digits the fixture holds
        return super().default(o)


def dumps(value: Any) -> str:
    """A fixture object (or page) as the JSON text Recurly would send."""
    return json.dumps(value, cls=_Encoder)


class Sleeps:
    """Records the waits the retry policy asks for, and never sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_connector(base_url: str, sleeps: Sleeps | None = None, **options: Any) -> RecurlyConnector:
    policy = RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(),
                         wall_clock=lambda: NOW, random=lambda: 0.5, max_retry_after=330.0)
    return RecurlyConnector({"base_url": base_url, "api_key_env": ENV_VAR, "concurrency": 1,
                             **options},
                            ConnectorContext(env={ENV_VAR: KEY}), retry=policy)
