"""Shared set-up for the report commands: the bundled sample, synced once per module, and the CLI.

The sample is exact at T = 2026-11-15 (``saasync/sample_data/SCENARIOS.md``), so every
report here is judged ``--at`` T.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from saasync.cli import cli, main
from saasync.reports.commands import commands
from tests.e2e.conftest import SAMPLE, Result, write_config

T = "2026-11-15T00:00:00Z"

for _command in commands:  # the lead registers them in saasync.cli; harmless once they are
    if _command.name not in cli.commands:
        cli.add_command(_command)


def sample_config(folder: Path, **kw: Any) -> Path:
    data = folder / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("*.md"))
    return write_config(folder, data, **kw)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose local store holds one full sync of the sample."""
    config = sample_config(tmp_path_factory.mktemp("synced"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["sync", "--config", str(config)]) == 0
    return config


@pytest.fixture
def unsynced(tmp_path: Path) -> Path:
    """A config on the sample with nothing synced yet (no state, no store)."""
    return sample_config(tmp_path)


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def cli_json(run_cli: RunCli, *args: str) -> Any:
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)
