"""Logging setup: structlog, readable on a terminal, JSON otherwise, secrets always redacted."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of each write: while a progress bar shows,
    rich puts its own stream there, so log lines print above the bar, not through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(*, json_logs: bool | None = None, verbose: bool = False,
                      stream: TextIO | None = None) -> None:
    """Log to ``stream``; by default to stderr, as it is when each line is written.

    Each line, newline included, is one write: the forked partitions of a parallel run
    share the parent's stderr, and a line written in pieces (text, then newline) can
    interleave with another process's line into one unparseable line."""
    out: Any = stream if stream is not None else _Stderr()
    if json_logs is None:
        json_logs = not out.isatty()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    try:  # the one redaction processor lives with the HTTP layer
        from saasync.http.redact import redact_secrets

        processors.append(redact_secrets)
    except ImportError:  # pragma: no cover - the HTTP layer is part of the package
        pass
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
