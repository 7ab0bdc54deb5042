"""QuickBooks Online connector: ``QuickBooksConnector`` (entry point name ``quickbooks``)."""
