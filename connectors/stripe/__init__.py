"""Stripe connector: invoices, customers, plans and subscriptions from the Stripe API."""
