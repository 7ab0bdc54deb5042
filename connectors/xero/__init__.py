"""Xero connector: ``XeroConnector`` (entry point name ``xero``)."""

from .connector import XeroConnector

__all__ = ["XeroConnector"]
