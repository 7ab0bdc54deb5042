"""The ``files`` connector: CSV or JSON Lines billing exports in a directory (see BEHAVIOR.md)."""

from .connector import FilesConnector

__all__ = ["FilesConnector"]
