"""How the user said to classify a billing item: a plain record the state store keeps and
connectors read (``ConnectorContext.item_mappings``).

Its own module so that the state store holds it without importing the connector protocol.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemMapping:
    """How the user said to classify a billing item (accounting sources: QuickBooks, Xero).

    ``plan`` set: lines of this item are subscription lines of that plan. ``one_time``:
    always a one-time line. Made by ``saasync review map`` or the config.
    """

    item: str
    one_time: bool = False
    plan_external_id: str | None = None
    plan_name: str | None = None
    interval_unit: str = "month"
    interval_count: int = 1
