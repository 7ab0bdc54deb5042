"""Xero connector: ``XeroConnector`` (entry point name ``xero``)."""
