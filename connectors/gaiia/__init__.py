"""The ``gaiia`` connector: an ISP billing platform's GraphQL API (see BEHAVIOR.md)."""

from connectors.gaiia.connector import GaiiaConnector

__all__ = ["GaiiaConnector"]
