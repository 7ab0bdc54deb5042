"""Install the repository folder ``connectors/`` as the package ``saasync_connectors``.

Why: a top-level package called ``connectors`` can collide with another distribution's in
a user's site-packages. The folder keeps its name; pyproject.toml maps the package onto it
(``package-dir``), and every reference to the old module name is rewritten:

- ``connectors/**/*.py``: absolute imports of the package become relative ones
  (``from ..accounting.items import ItemRules``); ``import connectors.x`` statements, which
  cannot be relative, and dotted mentions in docstrings get the new name;
- ``saasync/``, ``tests/``, ``bench/`` (``*.py``), ``docs/*.md``, ``README.md`` and
  ``connectors/**/*.md``: ``import connectors``, ``from connectors import ...`` and every
  dotted name ``connectors.<sub-package>`` (imports, strings such as
  ``"connectors.files.mapping"``, entry-point values in docs) or one being built
  (``f"connectors.{name}"``, ``"connectors." + name``) become ``saasync_connectors``;
- ``pyproject.toml``: the entry-point values, the package-data key, an explicit package
  list (every folder with an ``__init__.py`` under ``saasync/`` and ``connectors/``,
  regenerated on every run so a new connector is installed), the ``package-dir`` mapping,
  mypy's ``files`` and ruff's first-party names.

Then it runs ``ruff check --fix --select I001`` on the files it changed to restore the
import order. Paths such as ``connectors/files/BEHAVIOR.md``, the command
``saasync connectors``, the entry-point group ``saasync.connectors.v1`` and the test
package ``tests.connectors`` are left alone.

Idempotent: a second run changes nothing (``--check`` exits 1 when a run would change a
file, without writing). Run it from anywhere:

    python tools/rename_connectors_package.py [--check] [REPO]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

OLD = "connectors"
NEW = "saasync_connectors"
MARK = "# the packages: tools/rename_connectors_package.py writes this list"


def sub_packages(repo: Path) -> list[str]:
    """The first-level sub-packages of the folder (``files``, ``stripe``, ``accounting``...)."""
    return sorted(p.parent.name for p in (repo / OLD).glob("*/__init__.py"))


def dotted_pattern(subs: list[str]) -> re.Pattern[str]:
    """``connectors.<sub>`` as a whole dotted name, or a name being built
    (``f"connectors.{name}"``, ``"connectors." + name``); not ``saasync_connectors.``,
    ``tests.connectors.``, ``saasync.connectors.v1``, a path like ``connectors/x`` nor a
    file name like ``connectors.md``."""
    names = "|".join(map(re.escape, subs))
    return re.compile(rf"(?<![\w.\-/]){OLD}(?=\.(?:{names})\b|\.\{{)|(?<=[\"']){OLD}(?=\.[\"'])")


BARE_IMPORT = re.compile(rf"^(\s*)(import|from) {OLD}(?=\s|$|,)", re.MULTILINE)
FROM_IMPORT = re.compile(rf"^(\s*)from (?:{OLD}|{NEW})((?:\.\w+)*) import ", re.MULTILINE)


def rename(text: str, dotted: re.Pattern[str]) -> str:
    text = BARE_IMPORT.sub(rf"\1\2 {NEW}", text)
    return dotted.sub(NEW, text)


def relative_imports(text: str, package: list[str]) -> str:
    """Inside the folder: ``from connectors.a.b import x`` (or the new name) in a module of
    package ``package`` (its path below the folder) becomes a relative import."""

    def relative(match: re.Match[str]) -> str:
        target = [part for part in match.group(2).split(".") if part]
        common = 0
        while common < min(len(target), len(package)) and target[common] == package[common]:
            common += 1
        dots = "." * (len(package) - common + 1)
        return f"{match.group(1)}from {dots}{'.'.join(target[common:])} import "

    return FROM_IMPORT.sub(relative, text)


def source_files(repo: Path) -> list[Path]:
    found: list[Path] = []
    for top in ("saasync", OLD, "tests", "bench"):
        found += [p for p in (repo / top).rglob("*.py") if "__pycache__" not in p.parts]
    found += list((repo / "docs").glob("*.md")) + list((repo / OLD).rglob("*.md"))
    readme = repo / "README.md"
    return sorted(found + ([readme] if readme.is_file() else []))


def rewrite_source(repo: Path, path: Path, dotted: re.Pattern[str]) -> str:
    text = path.read_text("utf-8")
    inside = path.suffix == ".py" and path.is_relative_to(repo / OLD)
    if inside:
        package = list(path.relative_to(repo / OLD).parent.parts)
        text = relative_imports(text, package)
    return rename(text, dotted)


def package_list(repo: Path) -> list[str]:
    names = []
    for top, installed in (("saasync", "saasync"), (OLD, NEW)):
        for init in sorted((repo / top).rglob("__init__.py")):
            if "__pycache__" in init.parts:
                continue
            parts = init.parent.relative_to(repo / top).parts
            names.append(".".join((installed, *parts)))
    return names


def _setuptools_block(repo: Path) -> str:
    listed = "".join(f'  "{name}",\n' for name in package_list(repo))
    return (f"[tool.setuptools]\n{MARK}\n# (every folder with an __init__.py; tests/unit/test_packaging.py"
            f" checks it)\npackages = [\n{listed}]\npackage-dir = {{ {NEW} = \"{OLD}\" }}\n")


SETUPTOOLS_BLOCK = re.compile(
    r"^\[tool\.setuptools(?:\.packages\.find)?\]\n.*?(?=^\[)", re.MULTILINE | re.DOTALL)


def rewrite_pyproject(repo: Path, text: str, dotted: re.Pattern[str]) -> str:
    text = dotted.sub(NEW, text)
    block = _setuptools_block(repo) + "\n"
    if not SETUPTOOLS_BLOCK.search(text):
        raise SystemExit("pyproject.toml: no [tool.setuptools] or [tool.setuptools.packages.find]")
    text = SETUPTOOLS_BLOCK.sub(lambda _: block, text, count=1)
    text = re.sub(rf"^{OLD} = \[", f"{NEW} = [", text, flags=re.MULTILINE)  # package-data key
    text = re.sub(rf'^packages = \["saasync", "{OLD}"\]', f'files = ["saasync", "{OLD}"]', text,
                  flags=re.MULTILINE)  # mypy checks the folders
    if "[tool.ruff.lint.isort]" not in text:
        text = text.replace("[tool.mypy]", "[tool.ruff.lint.isort]\n"
                            f'known-first-party = ["{NEW}"]\n\n[tool.mypy]', 1)
    return text


def changes(repo: Path) -> dict[Path, str]:
    """Every file whose text the rename changes, with its new text."""
    dotted = dotted_pattern(sub_packages(repo))
    out: dict[Path, str] = {}
    for path in source_files(repo):
        before = path.read_text("utf-8")
        after = rewrite_source(repo, path, dotted)
        if after != before:
            out[path] = after
    pyproject = repo / "pyproject.toml"
    before = pyproject.read_text("utf-8")
    after = rewrite_pyproject(repo, before, dotted)
    if after != before:
        out[pyproject] = after
    return out


def sort_imports(repo: Path, paths: list[Path]) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    command = [str(ruff)] if ruff.is_file() else [shutil.which("ruff") or "ruff"]
    py = [str(p.relative_to(repo)) for p in paths if p.suffix == ".py"]
    if not py:
        return
    try:
        subprocess.run([*command, "check", "--fix", "--quiet", "--select", "I001", *py],
                       cwd=repo, check=False)
    except FileNotFoundError:
        print("ruff not found: run `ruff check --fix --select I001 .` yourself", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("repo", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--check", action="store_true", help="exit 1 if a run would change a file")
    args = parser.parse_args(argv)
    repo: Path = args.repo.resolve()
    todo = changes(repo)
    for path in todo:
        print(path.relative_to(repo))
    if args.check:
        return 1 if todo else 0
    for path, text in todo.items():
        path.write_text(text, "utf-8")
    sort_imports(repo, list(todo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
