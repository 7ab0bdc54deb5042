"""The wheel a user installs works on its own (issue #17).

Builds the wheel from a clean copy of the source tree, installs it into a fresh virtual
environment outside the repository, and runs the commands a newcomer runs first, with
the working directory outside the repository too, so nothing can be imported from the
checkout. It fails when something a user needs (a module, ``saasync/defaults/*``,
``connectors/files/sample/SCENARIOS.md``, a connector's BEHAVIOR.md...) is left out of the wheel.

Slow (a build, a venv, a pip install: about 20 s with a warm pip cache), but it runs in
the default ``python -m pytest``. Dependencies come from the package index pip is
configured with (pip's cache makes a second run fast).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("saasync", "connectors")  # the folders in the repository
INSTALLED = {"saasync": "saasync", "connectors": "saasync_connectors"}  # folder -> package
BUILTINS = {"files", "recurly", "stripe", "chargebee", "gaiia", "quickbooks", "xero"}
SKIP_DIRS = {".git", ".venv", "build", "dist", ".saasync", ".pytest_cache", ".mypy_cache",
             ".ruff_cache", ".hypothesis", "__pycache__", ".bench", "saasync-data"}


def _installed_as(file: str) -> str:
    """Where a repository file lands in site-packages: ``connectors/`` installs as
    ``saasync_connectors/``."""
    top, _, rest = Path(file).as_posix().partition("/")
    return f"{INSTALLED[top]}/{rest}"


def _source_files() -> list[str]:
    """Every file of the two packages, as a path relative to the repository: what the
    installed site-packages must hold (tracked files when git is there, else a walk)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", *PACKAGES], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [str(p.relative_to(REPO)) for pkg in PACKAGES for p in (REPO / pkg).rglob("*")
               if p.is_file() and not SKIP_DIRS & set(p.relative_to(REPO).parts)]
    files = [f for f in out if not f.endswith((".pyc", ".pyo")) and (REPO / f).is_file()]
    assert any(f.endswith("BEHAVIOR.md") for f in files), "no source files found"
    return sorted(files)


@dataclass
class Installed:
    python: Path
    saasync: Path
    site: Path  # the venv's site-packages
    home: Path  # a working directory outside the repository
    wheel: Path

    def run(self, *args: str, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "SAASYNC_CONFIG")}
        env["PATH"] = f"{self.saasync.parent}{os.pathsep}{env.get('PATH', '')}"
        done = subprocess.run([str(self.saasync), *args], cwd=cwd or self.home, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        if ok:
            assert done.returncode == 0, f"saasync {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return done


def _pip(python: Path, *args: str, cwd: Path) -> None:
    done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    # a clean copy: a stale build/ in the checkout could put files in the wheel that the
    # package configuration no longer would
    src = root / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.egg-info", "*.pyc"))
    dist = root / "dist"
    _pip(Path(sys.executable), "wheel", "--no-deps", "-q", "-w", str(dist), str(src), cwd=root)
    (wheel,) = dist.glob("saasync-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, cwd=root, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    _pip(python, "install", "-q", str(wheel), cwd=root)
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=root, check=True, capture_output=True, text=True).stdout.strip())
    home = root / "home"
    home.mkdir()
    yield Installed(python, bindir / "saasync", site, home, wheel)


def test_the_wheel_holds_every_file_of_the_packages(installed: Installed) -> None:
    """Every module and every data file (defaults, sample data, BEHAVIOR.md, ...) of the
    source packages is in the wheel and installed, not only the ones a command happens
    to open below."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    missing = [f for f in _source_files() if _installed_as(f) not in names]
    assert not missing, ("not in the wheel (add them to pyproject.toml packages or package data;"
                         f" tools/rename_connectors_package.py lists the packages): {missing}")
    not_installed = [f for f in _source_files() if not (installed.site / _installed_as(f)).is_file()]
    assert not not_installed, not_installed
    for needed in ("saasync/defaults/default.toml", "saasync/defaults/fx_rates_sample.csv",
                   "saasync_connectors/files/sample/SCENARIOS.md",
                   *(f"saasync_connectors/{name}/BEHAVIOR.md" for name in BUILTINS)):
        assert needed in names, needed


def test_the_wheel_installs_only_our_top_level_packages(installed: Installed) -> None:
    """Nothing in the wheel may collide with another distribution's package: its only
    top-level packages are ``saasync`` and ``saasync_connectors`` (issue #16)."""
    wheel = zipfile.ZipFile(installed.wheel)
    tops = {n.split("/")[0] for n in wheel.namelist() if "/" in n and ".dist-info/" not in n}
    assert tops == {"saasync", "saasync_connectors"}, sorted(tops)
    (top_level,) = [n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")]
    assert set(wheel.read(top_level).decode().split()) == {"saasync", "saasync_connectors"}
    assert not (installed.site / "connectors").exists()


def test_it_imports_from_site_packages_not_the_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.python), "-c",
         ("import saasync, saasync_connectors, saasync.cli; print(saasync.__file__);"
          " print(saasync_connectors.__file__)")],
        cwd=installed.home, capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(installed.site.resolve()), line
        assert not Path(line).resolve().is_relative_to(REPO), line


def test_help_lists_the_commands(installed: Installed) -> None:
    out = installed.run("--help").stdout
    for command in ("sync", "metrics", "init", "connectors", "review", "reconcile", "sample"):
        assert f"  {command}" in out, command
    assert "saasync" in installed.run("--version").stdout


def test_connectors_lists_the_builtins_with_installed_behavior_pages(installed: Installed) -> None:
    found = json.loads(installed.run("connectors", "--json").stdout)
    by_name = {c["name"]: c for c in found}
    assert BUILTINS <= set(by_name), sorted(by_name)
    for name in BUILTINS:
        c = by_name[name]
        assert c["status"] == "ok" and c["builtin"] and not c["error"], c
        behavior = Path(c["behavior"])
        assert behavior.is_file(), f"{name}: {behavior} does not exist"
        assert behavior.resolve().is_relative_to(installed.site.resolve()), behavior
        assert behavior.read_text("utf-8").strip()
    text = installed.run("connectors").stdout
    assert "(no BEHAVIOR.md beside the module)" not in text


def test_init_writes_configs_that_load(installed: Installed, tmp_path: Path) -> None:
    for name in sorted(BUILTINS):
        target = tmp_path / name / "saasync.toml"
        installed.run("init", "--connector", name, str(target))
        config = tomllib.loads(target.read_text("utf-8"))
        assert config["connections"], name
    # the files one runs, over an export written by the installed generator (a dry run:
    # nothing written to a store)
    config = tmp_path / "files" / "saasync.toml"
    exports = tmp_path / "files" / "exports"
    out = installed.run("sample", "generate", str(exports), "--end", "2026-11-01", cwd=tmp_path)
    assert "wrote the csv sample for 2026-11" in out.stdout
    report = json.loads(installed.run("sync", "--config", str(config), "--dry-run", "--json",
                                      cwd=tmp_path).stdout)
    assert report["dry_run"] and report["counts"]["balanced"]
    assert report["counts"]["read"] > 1000
    assert not (tmp_path / "files" / ".saasync" / "analytics.db").exists()


def _total(counts: dict[str, object]) -> int:
    total = 0
    for key in ("pushed", "unchanged", "skipped", "quarantined"):
        value = counts.get(key, 0)
        total += sum(value.values()) if isinstance(value, dict) else int(value)  # type: ignore[arg-type]
    return total


def test_sync_and_metrics_on_the_bundled_sample(installed: Installed, tmp_path: Path) -> None:
    report = json.loads(installed.run("sync", "--json", cwd=tmp_path).stdout)
    counts = report["counts"]
    assert report["status"] == "ok" and not report["dry_run"]
    assert counts["balanced"] is True
    assert counts["read"] == _total(counts) > 1000
    for kind, figures in report["by_kind"].items():
        assert figures["read"] == _total(figures), kind
    assert sum(counts["quarantined"].values()) == 3  # the three deliberately bad rows
    assert (tmp_path / ".saasync" / "analytics.db").is_file()  # in the working dir

    metrics = json.loads(installed.run("metrics", "--json", cwd=tmp_path).stdout)
    assert set(metrics["mrr"]) == {"USD", "EUR", "JPY"}
    assert all(v > 0 for v in metrics["mrr"].values())
    assert sum(metrics["subscriptions"].values()) == report["by_kind"]["subscription"]["pushed"]
    assert installed.run("metrics", "--currency", "USD", cwd=tmp_path).stdout  # bundled fx rates

    again = json.loads(installed.run("sync", "--json", cwd=tmp_path).stdout)
    assert again["counts"]["balanced"] and again["counts"]["pushed"] == 0


def test_sample_describe_from_the_wheel(installed: Installed) -> None:
    described = json.loads(installed.run("sample", "describe", "--json").stdout)
    ids = {c["customer"] for c in described["customers"]}
    assert {"cus_steady_monthly", "cus_bad_date", "cus_yearly"} <= ids
