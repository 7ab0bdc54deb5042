"""Shared by the accounting-software connectors (QuickBooks Online, Xero).

Accounting invoices have no subscriptions: these modules decide, line by line, whether a
charge is recurring (and of which plan, over which service period) or one-time, from the
user's item mappings, and quarantine what cannot be decided for the review queue.
"""
