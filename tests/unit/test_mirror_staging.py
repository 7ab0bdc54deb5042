"""The mirror's hashes never change between versions (the pushed map holds them), and a first
sync stages what it reads without looking any of it up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from saasync.mirror import Mirror, ReadSet, content_hash
from saasync.models import Customer
from saasync.state import StateStore


def test_content_hash_is_the_one_pushed_maps_hold() -> None:
    """Pinned: computed with ``json.dumps(sort_keys, compact, default=str)`` + blake2b-128,
    the way every state file written so far computed it."""
    doc = {"external_id": "inv_1", "line_items": [{"amount_in_cents": 1000, "type": "subscription",
                                                  "service_period_start": "2026-01-01T00:00:00Z"}],
           "date": datetime(2026, 1, 31, tzinfo=UTC), "rate": Decimal("1.10"), "note": "café",
           "due": None}
    assert content_hash(doc) == "12c69f93f221298f52b859d8f16a97fe"


def customers(*ids: str) -> list[Any]:
    return [Customer(external_id=cid, name=cid.upper()) for cid in ids]


def test_a_fresh_mirror_stages_without_lookups_and_says_every_customer_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with StateStore(tmp_path / "state.db") as state:
        mirror = Mirror(state, "c")
        assert mirror.is_empty()
        asked: list[str] = []
        real = state.mirror_hashes
        monkeypatch.setattr(state, "mirror_hashes",
                            lambda *args: asked.append("asked") or real(*args))
        assert mirror.stage(customers("a", "b"), ReadSet(), fresh=True) == ["a", "b"]
        assert asked == [] and not mirror.is_empty()
        # the next run compares: an unchanged record is not staged again
        assert mirror.stage(customers("a"), ReadSet()) == [] and asked == ["asked"]
        assert state.has_mirror("c") and not state.has_mirror("other")
