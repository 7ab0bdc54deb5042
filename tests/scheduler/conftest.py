"""Reuse the e2e fixtures (in-process CLI)."""

from tests.e2e.conftest import run_cli  # noqa: F401
