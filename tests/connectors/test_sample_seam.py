"""The seam between the core and a connector's bundled samples (saasync/samples.py), and the
one column definition the files connector reads and its sample generator writes.

``path = "builtin:NAME"`` is resolved by the connection's connector, found through the
connector registry: the core never imports the files connector (or its generator).
"""

from __future__ import annotations

import ast
import csv
import inspect
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

import saasync
from saasync import samples as seam
from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import ConfigError
from saasync.runner import connector_options
from saasync.settings import parse_settings
from saasync_connectors.files.bundled import SAMPLES
from saasync_connectors.files.columns import COLUMNS, REQUIRED, TABLES, optional
from saasync_connectors.files.connector import FilesConnector
from saasync_connectors.files.sample.export import Export
from saasync_connectors.files.sample.writers import empty_export, write_export

NOW = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


class FakeSamples:
    """A connector's samples that note what they were asked to write."""

    names: tuple[str, ...] = ("tiny",)

    def __init__(self) -> None:
        self.written: list[tuple[str, Path, date, datetime | None]] = []

    def write(self, name: str, target: Path, *, end: date, as_of: datetime | None = None,
              seed: int = 7, fmt: str = "csv") -> None:
        self.written.append((name, target, end, as_of))
        target.mkdir(parents=True)
        (target / "invoices.csv").write_text("external_id\n", "utf-8")

    def describe(self, name: str, *, end: date, as_of: datetime) -> dict[str, Any]:
        return {"sample": name}

    def render(self, described: dict[str, Any]) -> str:
        return str(described)


class WithSamples:
    samples: ClassVar[FakeSamples] = FakeSamples()


class WithoutSamples:
    samples = "not a BundledSamples"


def _settings(tmp_path: Path, connector: str, path: str) -> Any:
    return parse_settings({"connections": {"c": {
        "connector": connector, "options": {"path": path},
        "destination": {"type": "local", "path": "a.db"}}}}, source="test", base_dir=tmp_path)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeSamples:
    fake = FakeSamples()
    monkeypatch.setattr(WithSamples, "samples", fake)
    classes = {"tiny-conn": WithSamples, "plain": WithoutSamples}
    monkeypatch.setattr(seam, "load_connector_class", lambda name: classes[name])
    return fake


def test_the_files_connector_ships_its_samples_through_the_registry() -> None:
    found = seam.samples_of("files")  # the real entry point
    assert found is SAMPLES and found is FilesConnector.samples
    assert isinstance(found, seam.BundledSamples)
    assert found.names == ("sample", "sample-invoices-only")
    assert seam.samples_of("stripe") is None  # ships none
    with pytest.raises(ConfigError, match="ships no sample 'nope'"):
        seam.require_samples("files", "nope")


def test_builtin_path_is_the_connectors_sample_written_once(
    tmp_path: Path, registry: FakeSamples,
) -> None:
    settings = _settings(tmp_path, "tiny-conn", "builtin:tiny")
    _, conn = settings.connection(None)
    target = tmp_path / ".saasync" / "tiny" / "2026-12-05"
    assert connector_options(settings, conn, lambda: NOW) == {"path": str(target)}
    assert registry.written == [("tiny", target, date(2026, 12, 1),
                                 datetime(2026, 12, 5, tzinfo=UTC))]
    assert connector_options(settings, conn, lambda: NOW) == {"path": str(target)}
    assert len(registry.written) == 1  # today's copy is there: not written again


@pytest.mark.parametrize(("connector", "path"), [
    ("tiny-conn", "builtin:other"),  # a sample the connector does not ship
    ("plain", "builtin:tiny"),  # a connector that ships no samples
    ("tiny-conn", "tiny"),  # not builtin: at all
])
def test_any_other_path_is_left_as_it_is(tmp_path: Path, registry: FakeSamples,
                                          connector: str, path: str) -> None:
    settings = _settings(tmp_path, connector, path)
    _, conn = settings.connection(None)
    called: list[int] = []

    def clock() -> datetime:
        called.append(1)
        return NOW

    assert connector_options(settings, conn, clock) == {"path": path}
    assert registry.written == [] and not (tmp_path / ".saasync").exists()
    assert called == ([] if path == "tiny" else [1])


def test_reading_exports_does_not_load_the_generator() -> None:
    code = ("import sys, saasync_connectors.files.connector; "
            "print(sorted(m for m in sys.modules if m.startswith('saasync_connectors.files.sample')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    assert SAMPLES.describe("sample-invoices-only", end=date(2026, 11, 1),
                            as_of=datetime(2026, 11, 15, tzinfo=UTC))["customers"]


def test_the_core_never_imports_a_connector() -> None:
    """Every module of the saasync package: no import of ``connectors`` (it goes through
    the connector registry and saasync.samples)."""
    offenders = []
    for module in Path(saasync.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] == "connectors"]
    assert offenders == []


# -- the one column definition ------------------------------------------------------------------
def _tiny_export() -> Export:
    """One of each row, every column filled: a plan, a customer, a subscription, an invoice
    with a one-time line (whose subscription columns are optional) and a payment."""
    x = empty_export(date(2026, 11, 1), None)
    x.plans[1:] = []
    plan = x.plans[0]["external_id"]
    x.customer("cus_a", "Ada Moreau", x.month(2), country="DE", account_status="ACTIVE",
               billing=True)
    x.subscription("sub_a", "cus_a", plan, "active", x.month(2), period_end=x.month(-1),
                   cancelled=x.month(-2), paused=x.month(0, 3))
    x.subscriptions[0]["past_cancellation_dates"] = [x.month(3)]
    line = x.one_time(1000, "EUR", "DE", "Setup", "sub_a")
    line.update(external_id="li", quantity=1, prorated=False, discount_amount=10,
                plan_external_id=plan, service_period_start=x.month(1),
                service_period_end=x.month(0))
    x.invoice("a", "cus_a", x.month(1), "EUR", [line], due=x.month(1), discount=5, code="C")
    return x


def _quarantined(folder: Path) -> list[Quarantined]:
    read = FilesConnector({"path": str(folder)}, ConnectorContext()).read(ReadWindow())
    return [item for item in read if isinstance(item, Quarantined)]


def _without(folder: Path, table: str, column: str) -> None:
    path = folder / f"{table}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with path.open("w", encoding="utf-8", newline="") as handle:
        keep = [c for c in COLUMNS[table] if c != column]
        writer = csv.DictWriter(handle, keep, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_the_generator_writes_every_column_in_order(tmp_path: Path) -> None:
    write_export(_tiny_export(), tmp_path)
    for table in TABLES.values():
        with (tmp_path / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
            header, row = list(csv.reader(handle))
        assert tuple(header) == COLUMNS[table]
        assert all(row), (table, dict(zip(header, row, strict=True)))  # every cell filled
    assert _quarantined(tmp_path) == []


@pytest.mark.parametrize("table", list(COLUMNS))
def test_required_columns_are_what_the_reader_requires(tmp_path: Path, table: str) -> None:
    """A file without a required column has its rows quarantined; without an optional one,
    it is read as before."""
    assert REQUIRED[table] <= set(COLUMNS[table]) and optional(table)
    export = _tiny_export()
    for column in COLUMNS[table]:
        folder = tmp_path / column
        write_export(export, folder)
        _without(folder, table, column)
        problems = _quarantined(folder)
        assert bool(problems) == (column in REQUIRED[table]), (column, problems)


def _documented() -> dict[str, tuple[set[str], set[str]]]:
    """BEHAVIOR.md's field tables: table -> (every field, the ones in bold)."""
    behavior = Path(inspect.getfile(FilesConnector)).parent / "BEHAVIOR.md"
    lines = behavior.read_text("utf-8").splitlines()
    found: dict[str, tuple[set[str], set[str]]] = {}
    table = None
    for line in lines:
        if line.startswith("### "):
            table = line[4:].strip().replace("invoice lines", "invoice_lines")
            table = table if table in COLUMNS else None
        elif table and line.startswith("| ") and "(JSON Lines)" not in line:
            cell = line.split("|")[1]
            names = set(re.findall(r"`(\w+)`", cell)) - {"field"}
            every, bold = found.setdefault(table, (set(), set()))
            every |= names
            bold |= names if cell.strip().startswith("**") else set()
    return found


def test_behavior_md_documents_the_columns_and_which_are_required() -> None:
    documented = _documented()
    assert set(documented) == set(COLUMNS)
    for table, (every, bold) in documented.items():
        assert every == set(COLUMNS[table]), table
        assert bold == REQUIRED[table], table
