"""ChartMogul over HTTP: the destination (``destination.py``), its client, mapping, bulk
imports and read-back, re-exported here under their public names."""

from saasync.destinations.chartmogul.bulk import BulkImporter, BulkResult
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.chartmogul.mapping import InvoiceConflict, RecordConflict
from saasync.destinations.chartmogul.readback import DestinationSnapshot, read_state

__all__ = [
    "BulkImporter",
    "BulkResult",
    "ChartMogulDestination",
    "DestinationSnapshot",
    "InvoiceConflict",
    "RecordConflict",
    "read_state",
]
