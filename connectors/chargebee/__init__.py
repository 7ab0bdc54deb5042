"""The ``chargebee`` connector: a Chargebee site through API v2 (see BEHAVIOR.md)."""
