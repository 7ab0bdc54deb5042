"""Stripe connector: invoices, customers, plans and subscriptions from the Stripe API."""

from .connector import StripeConnector

__all__ = ["StripeConnector"]
