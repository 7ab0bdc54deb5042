"""Shared set-up for end-to-end runs: a config on a copy of the bundled sample data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from saasync.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample_data"


def write_config(folder: Path, data_dir: Path, *, open_invoices: str = "exclude", extra: str = "",
                 auto_churn_days: int | None = 30) -> Path:
    """A config on ``data_dir``; ``auto_churn_days`` as in the bundled sample config."""
    if auto_churn_days is not None:
        extra = f"auto_churn_days = {auto_churn_days}\n{extra}"
    config = folder / "saasync.toml"
    config.write_text(
        f"""
state = "state/state.db"

[connections.sample]
connector = "files"
open_invoices = "{open_invoices}"
{extra}

[connections.sample.options]
path = "{data_dir.as_posix()}"

[connections.sample.destination]
type = "local"
path = "store/analytics.db"
data_source = "sample"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture
def config(tmp_path: Path, sample_dir: Path) -> Path:
    return write_config(tmp_path, sample_dir)


class Result(NamedTuple):
    code: int
    out: str
    err: str


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_json(run_cli: RunCli, *args: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]
