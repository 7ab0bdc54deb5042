"""The ``chargebee`` connector: a Chargebee site through API v2 (see BEHAVIOR.md)."""

from .connector import ChargebeeConnector

__all__ = ["ChargebeeConnector"]
