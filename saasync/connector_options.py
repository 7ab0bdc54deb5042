"""Checked connector options: one place that says what a wrong option is, for every connector.

An unknown option is an error (a typo never goes unnoticed); a wrong value names the
connector, the option, what is expected and what was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from saasync.errors import ConfigError


class Options:
    """A connector's options, checked as they are read."""

    def __init__(self, connector: str, options: Mapping[str, Any], known: Iterable[str],
                 *, hint: str = "") -> None:
        self.connector = connector
        self.options = options
        known = tuple(known)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"{connector} connector: unknown option(s) {', '.join(unknown)}"
                              f"{hint} (known: {', '.join(known)})")

    def error(self, name: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.connector} connector: option {name!r} must be {expected}, "
                           f"got {self.options.get(name)!r}")

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.options.get(name, default)
        if (isinstance(value, bool) or not isinstance(value, int) or value < low
                or (high is not None and value > high)):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.error(name, f"an integer {bound}")
        return value

    def url(self, name: str, default: str, *, example: str = "") -> str:
        """An absolute http(s) URL, without its trailing slash."""
        value = str(self.options.get(name, default)).strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(name, f"an absolute http(s) URL such as {example or default}")
        return value

    def env_name(self, name: str, default: str) -> str:
        """The name of the environment variable that holds a secret (never the secret)."""
        value = self.options.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.connector} connector: option {name!r} must name the "
                              "environment variable holding the API key")
        return value.strip()
