"""The progress bar names its stage (reading, building, pushing, settling), counts what is
done out of what is known, and log lines print above it instead of tearing through it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console

from saasync.connector import ConnectorContext
from saasync.console import progress_bar
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.logs import configure_logging
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from saasync_connectors.files.connector import FilesConnector
from tests.e2e.conftest import SAMPLE


def _run(tmp_path: Path, *, dry_run: bool) -> list[tuple[str, int, Any]]:
    seen: list[tuple[str, int, Any]] = []
    connector = FilesConnector({"path": str(SAMPLE)}, ConnectorContext(base_dir=tmp_path))
    with StateStore(tmp_path / "s.db") as state, LocalStore(tmp_path / "a.db") as store:
        Engine("c", connector, state, None if dry_run else store, rules=RuleSettings(),
               data_source="c", progress=lambda *args: seen.append(args)).run("sync")
    return seen


def test_a_real_run_reads_then_pushes(tmp_path: Path) -> None:
    seen = _run(tmp_path, dry_run=False)
    stages = [stage for stage, _, _ in seen]
    assert stages[0] == "reading" and stages[-1] == "pushing"
    assert "building" not in stages  # a real run pushes each customer as it is built
    assert stages.index("pushing") > max(i for i, s in enumerate(stages) if s == "reading")
    read = [(done, total) for stage, done, total in seen if stage == "reading"]
    assert read[-1][0] == read[-1][1] > 1000  # the records read, known once all are
    pushed = [(done, total) for stage, done, total in seen if stage == "pushing"]
    assert pushed[-1][0] == pushed[-1][1] and all(done <= total for done, total in pushed)


def test_a_dry_run_builds(tmp_path: Path) -> None:
    stages = {stage for stage, _, _ in _run(tmp_path, dry_run=True)}
    assert stages == {"reading", "building"}


def test_the_bar_names_the_stage_and_logs_print_above_it() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    configure_logging(json_logs=True)
    try:
        with progress_bar(True, console=console) as update:
            assert update is not None
            update("reading", 2000, None)
            structlog.get_logger("t").info("a log line during the run")
            update("pushing", 3, 7)
            console.print()  # let the bar render its last state
    finally:
        configure_logging()
    text = out.getvalue()
    assert "a log line during the run" in text  # through the bar's console, not across it
    assert "reading" in text and "2000" in text
    assert "pushing" in text and "3/7" in text
    assert "building" not in text
