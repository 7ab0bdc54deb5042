"""QuickBooks Online connector: ``QuickBooksConnector`` (entry point name ``quickbooks``)."""

from connectors.quickbooks.connector import QuickBooksConnector

__all__ = ["QuickBooksConnector"]
