"""The embedded analytics store: ChartMogul's data model in SQLite, the default destination.

``store`` is the destination (``LocalStore``); its parts: ``schema`` (the DDL, its migrations, opening a file),
``writer`` (invoices, lines, transactions and subscriptions written as ChartMogul would),
``reader`` (the read side reports and the server use) and ``rows`` (what a read returns).
"""

from saasync.destinations.local.store import LocalStore

__all__ = ["LocalStore"]
