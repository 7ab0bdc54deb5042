"""Shared set-up for the report commands: the bundled sample, synced once per module, and the CLI.

The sample is exact at T = 2026-11-15 (``connectors/files/sample/SCENARIOS.md``), so every
report here is judged ``--at`` T.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from saasync.cli import main
from tests.e2e.conftest import SAMPLE, RunCli, run_cli, write_config  # noqa: F401 (fixture)

T = "2026-11-15T00:00:00Z"

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


def cli_json(run: RunCli, *args: str) -> Any:
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)
