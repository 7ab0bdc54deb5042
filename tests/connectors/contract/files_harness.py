"""Contract harness of the files connector: the bundled sample, copied so it can be changed."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from saasync.connector import ConnectorContext
from saasync_connectors.files.connector import FilesConnector
from tests.connectors.contract.harness import SourceUnderTest

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "sample_data"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Harness:
    name = "files"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        data = tmp_path / "files-source"
        shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("*.md"))
        expected: set[tuple[str, str]] = set()
        for kind, file in (("customer", "customers.csv"), ("plan", "plans.csv"),
                           ("subscription", "subscriptions.csv"), ("invoice", "invoices.csv")):
            expected |= {(kind, row["external_id"]) for row in _rows(data / file)}
        issued = sorted(
            datetime.fromisoformat(row["issued_at"])
            for row in _rows(data / "invoices.csv")
            if row["issued_at"].endswith("Z")
        )
        connector = FilesConnector({"path": str(data)}, ConnectorContext(base_dir=tmp_path))
        yield SourceUnderTest(connector, expected, issued[0], issued[-1], {"dir": data})

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        data: Path = under_test.extra["dir"]  # type: ignore[assignment]
        path = data / "invoices.csv"
        rows = _rows(path)
        later = datetime(2030, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        target = next(r for r in rows if r["external_id"] == "inv_open_only_1")
        target["status"] = "paid"
        target["updated_at"] = later
        new = dict(target, external_id="inv_open_only_new", updated_at=later)
        rows.append(new)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        lines = _rows(data / "invoice_lines.csv")
        copy = dict(next(r for r in lines if r["invoice_external_id"] == "inv_open_only_1"))
        copy.update(invoice_external_id="inv_open_only_new", external_id="inv_open_only_new_l1")
        with (data / "invoice_lines.csv").open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=list(lines[0])).writerow(copy)
        return {("invoice", "inv_open_only_1"), ("invoice", "inv_open_only_new")}
