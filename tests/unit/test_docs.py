"""The documentation keeps up with the code: every reason code, command and link."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from saasync.cli import cli
from saasync.reasons import Reason

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_every_reason_code_is_documented_in_rules() -> None:
    rules = (ROOT / "docs" / "rules.md").read_text("utf-8")
    missing = [code.value for code in Reason if f"`{code.value}`" not in rules]
    assert not missing


def test_every_command_is_in_the_readme() -> None:
    ctx = click.Context(cli)
    missing = [name for name in cli.list_commands(ctx) if f"saasync {name}" not in README]
    assert not missing


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve_and_nothing_points_outside_the_project(page: Path) -> None:
    text = page.read_text("utf-8")
    assert OUTSIDE not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


OUTSIDE = "../" + "shared"  # the engineers' folder beside the clone; users never have it


def test_no_project_file_points_outside_the_project() -> None:
    """Users get the repository or the wheel: every rule, fact and fixture a file cites is in
    it (docs/, tests/fixtures/), never in a folder beside the clone."""
    stale = ("DOMAIN \u00a7", "DOMAIN" + ".md", "reference \u00a7", "billing-sources" + ".md", OUTSIDE)
    offenders = []
    for top in ("saasync", "connectors", "tests", "docs", "config", "bench"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg"} or not path.is_file():
                continue
            text = path.read_text("utf-8", errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {s}" for s in stale if s in text]
    assert not offenders


def test_the_readme_links_every_page_of_docs() -> None:
    assert {p.name for p in DOCS} >= {"rules.md", "connectors.md", "chartmogul.md",
                                      "operations.md", "performance.md"}
    for page in DOCS:
        assert f"(docs/{page.name})" in README


def _all_commands(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)  # the lazily loaded ones too
            assert sub is not None, f"{path} {name}"
            found += _all_commands(sub, f"{path} {name}")
    return found


def test_every_option_of_every_command_has_help() -> None:
    """Every command and subcommand, including serve and celery (loaded lazily)."""
    commands = _all_commands(cli, "saasync")
    assert {"saasync serve", "saasync celery worker", "saasync celery beat",
            "saasync review map"} <= {path for path, _ in commands}
    missing = [f"{path} {p.opts}" for path, cmd in commands for p in cmd.params
               if isinstance(p, click.Option) and not p.help]
    assert not missing
