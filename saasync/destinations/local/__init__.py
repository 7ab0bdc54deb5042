"""The embedded analytics store: ChartMogul's data model in SQLite, the default destination.

``store`` is the destination (``LocalStore``), built from parts it holds rather than
inherits: ``database`` (the open file and its transactions; the selected data source, one
object the others share), ``reader`` (the read side reports and the server use) and
``store_writer`` (the Destination's writes, row-level work in ``writer``). ``schema`` has
the DDL, its migrations and opening a file; ``rows`` what a read returns.
"""

from saasync.destinations.local.store import LocalStore

__all__ = ["LocalStore"]
