"""Where commands print for a person, and what happens when nobody reads any more.

``saasync review | head -1``: once ``head`` has its line it closes the pipe, and the next
write to stdout raises ``BrokenPipeError``. That is not an error of ours: the command group
turns it into ``StdoutClosed`` and ``main`` exits 0 without a word (``closed_stdout``). rich's own reaction (exit 1) is replaced by raising
the ``BrokenPipeError`` so that ``main`` sees it like any other write.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from saasync.sending import ProgressFn  # (stage, done, total), as the engine reports them


REFRESH_S = 0.1  # the progress bar's redraws, at most 10 a second


class StdoutClosed(Exception):
    """stdout's reader closed the pipe. Not an OSError, so that click does not turn it
    into its own exit 1 on the way to ``saasync.cli.main``."""


class StdoutConsole(Console):
    """A rich console on stdout that lets a broken pipe reach ``saasync.cli.main``."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def stdout_console() -> Console:
    """The console of tables a person reads: fixed width when stdout is not a terminal."""
    return StdoutConsole(soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def closed_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush finds nowhere to fail
    (no "Exception ignored ... BrokenPipeError" at exit)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured or replaced stdout
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def human_time(value: str | datetime | None, default: str = "") -> str:
    """A time as a person reads it: ``2026-11-21 10:15:03 UTC`` (no microseconds, no
    offset). Machine output (``--json``) keeps full ISO 8601."""
    if value is None or value == "":
        return default
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(value)  # 3.11+: a trailing Z too
        except ValueError:
            return value
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


@contextmanager
def progress_bar(enabled: bool, console: Console | None = None) -> Iterator[ProgressFn | None]:
    """The bar of a run on a terminal: its stage (reading, building, pushing, settling) and
    what is done of what is known. While it shows, log lines print above it (rich redirects
    stderr, which the log stream follows: see ``saasync.logs``)."""
    if not enabled:
        yield None
        return
    # No refresh thread (rich's default): the bar redraws on the run's own thread, as the
    # counts come, at most every REFRESH_S. A process running a second thread may not fork
    # a run into parts (``saasync.parallel.fork_refusal``).
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  auto_refresh=False) as bar:
        task = bar.add_task("reading", total=None)
        shown: list[str] = []
        drawn = [0.0]

        def update(stage: str, done: int, total: int | None) -> None:
            new_stage = shown[-1:] != [stage]  # a new stage shows at once, counts as they come
            if new_stage:
                shown.append(stage)
            now = time.monotonic()
            due = new_stage or now - drawn[0] >= REFRESH_S
            if due:
                drawn[0] = now
            bar.update(task, description=stage, completed=done, total=total, refresh=due)

        yield update
