"""Stripe connector: invoices, customers, plans and subscriptions from the Stripe API."""

from connectors.stripe.connector import StripeConnector

__all__ = ["StripeConnector"]
