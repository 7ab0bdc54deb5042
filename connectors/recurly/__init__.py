"""Recurly (API v3, v2021-02-25) as an invoice source: see ``BEHAVIOR.md`` for its quirks."""

from .connector import RecurlyConnector

__all__ = ["RecurlyConnector"]
