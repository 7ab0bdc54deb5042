"""Xero connector: ``XeroConnector`` (entry point name ``xero``)."""

from connectors.xero.connector import XeroConnector

__all__ = ["XeroConnector"]
