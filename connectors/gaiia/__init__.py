"""The ``gaiia`` connector: an ISP billing platform's GraphQL API (see BEHAVIOR.md)."""
