"""The ``files`` connector: CSV or JSON Lines billing exports in a directory (see BEHAVIOR.md)."""
