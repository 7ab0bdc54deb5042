"""The folder ``connectors/`` installs as the package ``saasync_connectors`` (issue #16):
nothing imports the old name, every package folder is listed for setuptools, the entry
points resolve, and ``tools/rename_connectors_package.py`` is idempotent.

The wheel itself (its top-level packages, every file installed) is checked in
``tests/e2e/test_wheel_install.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

from saasync.connector import ENTRY_POINT_GROUP

REPO = Path(__file__).resolve().parents[2]
OLD, NEW = "connectors", "saasync_connectors"  # the folder, and the package it installs as
SCRIPT = REPO / "tools" / "rename_connectors_package.py"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rename_connectors_package", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the like look their module up
    spec.loader.exec_module(module)
    return module


def _python_files() -> list[Path]:
    return sorted(p for top in ("saasync", OLD, "tests", "bench", "tools")
                  for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts)


def _imported(path: Path) -> list[tuple[int, str, int]]:
    """(line, absolute module name or the relative one's tail, level) of every import."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


def test_nothing_imports_the_old_top_level_name() -> None:
    bad = [f"{path.relative_to(REPO)}:{line}: {name}"
           for path in _python_files() for line, name, level in _imported(path)
           if level == 0 and (name == OLD or name.startswith(f"{OLD}."))]
    assert not bad, f"import {NEW} instead: {bad}"


def test_no_string_names_a_module_by_the_old_name() -> None:
    """A string naming a module by the old dotted name (importlib or mock targets, entry
    points written by tests) would import a second copy of the package, or nothing."""
    prefixes = tuple(f"{OLD}.{sub}" for sub in _script().sub_packages(REPO))

    def names_old(node: ast.AST) -> bool:
        if isinstance(node, ast.JoinedStr) and node.values:  # an f-string building the old name
            return names_old(node.values[0]) or (
                isinstance(first := node.values[0], ast.Constant) and first.value == f"{OLD}.")
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and (node.value.startswith(prefixes) or node.value == f"{OLD}."))

    bad = [f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}"
           for path in _python_files() if path != SCRIPT
           for node in ast.walk(ast.parse(path.read_text("utf-8"))) if names_old(node)]
    assert not bad, bad


def test_connectors_import_their_own_package_relatively() -> None:
    """Inside the folder, imports of the package itself are relative: the code does not
    depend on the name it is installed under."""
    bad = [f"{path.relative_to(REPO)}:{line}: {name}"
           for path in sorted((REPO / OLD).rglob("*.py"))
           for line, name, level in _imported(path)
           if level == 0 and (name == NEW or name.startswith(f"{NEW}."))]
    assert not bad, bad


def test_the_rename_script_has_nothing_left_to_do() -> None:
    """Code, tests, docs, README and pyproject.toml are all renamed (the same script
    the lead re-runs after a merge; here it only reports)."""
    left = [str(p.relative_to(REPO)) for p in _script().changes(REPO)]
    assert not left, f"run python tools/rename_connectors_package.py: {left}"


def _package_folders(top: str, installed: str) -> set[str]:
    return {".".join((installed, *p.parent.relative_to(REPO / top).parts))
            for p in (REPO / top).rglob("__init__.py") if "__pycache__" not in p.parts}


def test_every_package_folder_is_listed_for_setuptools() -> None:
    """setuptools installs only the listed packages: a new connector folder missing from
    the list would be left out of the wheel (and ``saasync connectors`` broken)."""
    config = PYPROJECT["tool"]["setuptools"]
    listed = set(config["packages"])
    expected = _package_folders("saasync", "saasync") | _package_folders(OLD, NEW)
    assert listed == expected, {"missing": sorted(expected - listed),
                                "stale": sorted(listed - expected)}
    assert config["package-dir"] == {NEW: OLD}
    assert {name.split(".")[0] for name in listed} == {"saasync", NEW}


def test_every_folder_with_code_is_a_package() -> None:
    """A folder of modules without ``__init__.py`` would not be found by the list above."""
    bare = sorted(str(p.parent.relative_to(REPO)) for top in ("saasync", OLD)
                  for p in (REPO / top).rglob("*.py")
                  if "__pycache__" not in p.parts and not (p.parent / "__init__.py").is_file())
    assert not bare, bare


def test_mypy_checks_both_folders_strictly() -> None:
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["strict"] is True
    assert set(mypy["files"]) >= {"saasync", OLD}


def test_installed_entry_points_are_the_declared_ones_and_load() -> None:
    """The environment's metadata (``pip install -e .``) matches pyproject.toml, and every
    built-in connector loads from ``saasync_connectors``."""
    declared = PYPROJECT["project"]["entry-points"][ENTRY_POINT_GROUP]
    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)
                 if ep.dist is not None and ep.dist.metadata["Name"] == "saasync"}
    assert {name: ep.value for name, ep in installed.items()} == declared, \
        "stale install: run pip install -e ."
    folders = {p.parent.name for p in (REPO / OLD).glob("*/connector.py")}
    assert set(declared) == folders
    for name, ep in installed.items():
        assert ep.value.startswith(f"{NEW}.{name}."), ep.value
        factory = ep.load()
        assert factory.__module__ == f"{NEW}.{name}.connector"
        assert factory.name == name


# -- the script, on a small repository in the old layout ------------------------------

OLD_PYPROJECT = f"""[project]
name = "demo"

[project.entry-points."saasync.connectors.v1"]
alpha = "{OLD}.alpha.connector:AlphaConnector"

[tool.setuptools.packages.find]
include = ["saasync*", "{OLD}*"]

[tool.setuptools.package-data]
{OLD} = ["*/BEHAVIOR.md"]

[tool.mypy]
strict = true
packages = ["saasync", "{OLD}"]
"""

OLD_FILES = {
    f"{OLD}/__init__.py": "",
    f"{OLD}/shared/__init__.py": "",
    f"{OLD}/shared/util.py": "X = 1\n",
    f"{OLD}/alpha/__init__.py": f"from {OLD}.alpha.connector import AlphaConnector\n",
    f"{OLD}/alpha/connector.py": (f'"""Uses ``{OLD}.shared.util``."""\n\n'
                                  f"from {OLD}.alpha import mapping\n"
                                  f"from {OLD}.shared.util import X\n"
                                  "from saasync.models import Customer\n\n"
                                  "__all__ = ['AlphaConnector', 'Customer', 'X', 'mapping']\n\n\n"
                                  "class AlphaConnector:\n    pass\n"),
    f"{OLD}/alpha/mapping.py": "",
    f"{OLD}/alpha/BEHAVIOR.md": f"See `{OLD}/alpha/connector.py` and `{OLD}.alpha.mapping`.\n",
    "saasync/__init__.py": "",
    "saasync/models.py": "class Customer:\n    pass\n",
    "tests/test_alpha.py": (f"import {OLD}.alpha.connector as alpha\n"
                            f"from {OLD} import alpha as pkg\n"
                            "from saasync.models import Customer\n\n"
                            f'NAME = "{OLD}.alpha.mapping"\n'
                            f'BUILT = f"{OLD}.{{NAME}}.connector", "{OLD}." + NAME\n'
                            f'FILE = "{OLD}.md"\n'
                            'GROUP = "saasync.connectors.v1"\n'
                            f'OWN = "tests.{OLD}.alpha"\n'),
    "docs/connectors.md": (f"`saasync {OLD}`, [{OLD}.md]({OLD}.md), `{OLD}.alpha.connector`,"
                           f" `{NEW}.alpha`\n"),
    "README.md": f"{OLD}/alpha/BEHAVIOR.md\n",
}


@pytest.fixture
def old_repo(tmp_path: Path) -> Path:
    for name, text in {**OLD_FILES, "pyproject.toml": OLD_PYPROJECT}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return tmp_path


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args, str(repo)],
                          capture_output=True, text=True, check=False, timeout=120)


def _snapshot(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): p.read_text("utf-8") for p in sorted(repo.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".ruff_cache" not in p.parts}


def test_the_script_renames_and_a_second_run_changes_nothing(old_repo: Path) -> None:
    assert _run(old_repo, "--check").returncode == 1
    done = _run(old_repo)
    assert done.returncode == 0, done.stderr
    after = _snapshot(old_repo)
    connector = after[f"{OLD}/alpha/connector.py"]
    assert "from . import mapping\n" in connector and "from ..shared.util import X\n" in connector
    assert f"{OLD}.alpha" not in connector
    assert f"``{NEW}.shared.util``" in connector
    assert after[f"{OLD}/alpha/__init__.py"] == "from .connector import AlphaConnector\n"
    test = after["tests/test_alpha.py"]
    assert f"import {NEW}.alpha.connector as alpha\n" in test
    assert f"from {NEW} import alpha as pkg\n" in test
    assert f'"{NEW}.alpha.mapping"' in test and '"saasync.connectors.v1"' in test
    assert f'BUILT = f"{NEW}.{{NAME}}.connector", "{NEW}." + NAME\n' in test
    assert f'FILE = "{OLD}.md"\n' in test
    assert f'"tests.{OLD}.alpha"' in test
    assert after["docs/connectors.md"] == (f"`saasync {OLD}`, [{OLD}.md]({OLD}.md),"
                                           f" `{NEW}.alpha.connector`, `{NEW}.alpha`\n")
    assert after["README.md"] == OLD_FILES["README.md"]  # a path: the folder keeps its name
    assert f"`{OLD}/alpha/connector.py` and `{NEW}.alpha.mapping`" in after[
        f"{OLD}/alpha/BEHAVIOR.md"]
    config = tomllib.loads(after["pyproject.toml"])
    assert config["project"]["entry-points"]["saasync.connectors.v1"] == {
        "alpha": f"{NEW}.alpha.connector:AlphaConnector"}
    assert config["tool"]["setuptools"]["packages"] == [
        "saasync", NEW, f"{NEW}.alpha", f"{NEW}.shared"]
    assert config["tool"]["setuptools"]["package-dir"] == {NEW: OLD}
    assert config["tool"]["setuptools"]["package-data"] == {NEW: ["*/BEHAVIOR.md"]}
    assert config["tool"]["mypy"]["files"] == ["saasync", OLD]

    assert _run(old_repo, "--check").returncode == 0
    again = _run(old_repo)
    assert again.returncode == 0 and not again.stdout, again.stdout
    assert _snapshot(old_repo) == after


def test_the_script_lists_a_new_connector_folder(old_repo: Path) -> None:
    """The lead re-runs the script after merging a branch that adds a connector."""
    assert _run(old_repo).returncode == 0
    (old_repo / OLD / "beta").mkdir()
    (old_repo / OLD / "beta" / "__init__.py").write_text(
        f"from {OLD}.beta.connector import BetaConnector\n", "utf-8")
    assert _run(old_repo).returncode == 0
    config = tomllib.loads((old_repo / "pyproject.toml").read_text("utf-8"))
    assert f"{NEW}.beta" in config["tool"]["setuptools"]["packages"]
    assert (old_repo / OLD / "beta" / "__init__.py").read_text("utf-8") == (
        "from .connector import BetaConnector\n")
