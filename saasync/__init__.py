"""saasync: keep subscription analytics true to billing."""

__version__ = "0.1.0"
