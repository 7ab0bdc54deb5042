"""The ``gaiia`` connector: an ISP billing platform's GraphQL API (see BEHAVIOR.md)."""

from .connector import GaiiaConnector

__all__ = ["GaiiaConnector"]
