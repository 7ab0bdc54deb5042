"""The exit statuses of ``saasync`` commands (also listed in the README and ``saasync.cli``).

A module of its own so that commands living with their feature (``state``, the reports)
name them without importing the CLI."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONFIG = 2
    AUTH = 3
    LOCKED = 4
    PARTIAL = 5
    ISSUES_FOUND = 6  # audit --fail-on-issues, status --check, state check
    DAMAGED = 7  # the state file or a local store cannot be read: see `saasync state`
    SOURCE_CHANGED = 8  # an export file was rewritten while the run read it
