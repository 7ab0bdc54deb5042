"""The commented examples in config/ stay valid: a user copies them."""

from pathlib import Path

import pytest

from saasync.settings import load_settings

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_loads(path: Path) -> None:
    settings = load_settings(path)
    assert settings.connections


def test_there_are_examples() -> None:
    assert {p.name for p in CONFIGS} >= {"example.toml", "sample.toml"}
