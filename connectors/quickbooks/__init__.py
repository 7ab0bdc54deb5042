"""QuickBooks Online connector: ``QuickBooksConnector`` (entry point name ``quickbooks``)."""

from .connector import QuickBooksConnector

__all__ = ["QuickBooksConnector"]
