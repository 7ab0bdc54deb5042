"""``saasync sample generate``: the exports are byte for byte those of the generator before
it moved into connectors/files/sample/ (issue #16), and the command's options work.

The CSV copy of 2026-11 is pinned whole by tests/fixtures/sample_data (test_sample_data.py);
the other shapes are pinned here by the SHA-256 of each file (first 16 hex digits), taken
from ``python -m saasync.sample`` before the move.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saasync.cli import main

PINNED: dict[tuple[str, ...], dict[str, str]] = {
    ("--end", "2026-11-01", "--format", "jsonl"): {
        "customers.jsonl": "10987f1817253156",
        "invoices.jsonl": "301ec44cbc289014",
        "plans.jsonl": "1e3c865f859ce7b8",
        "subscriptions.jsonl": "58b9f65eff03dc12",
    },
    ("--end", "2026-11-01", "--invoices-only"): {
        "customers.csv": "b199df6d3df6d686",
        "invoice_lines.csv": "0775fc32289c6bfb",
        "invoices.csv": "c96853287166f94d",
        "plans.csv": "475288d058a0e29e",
        "transactions.csv": "7d04b80ea0f33b4e",
    },
    ("--end", "2026-11-01", "--format", "jsonl", "--invoices-only"): {
        "customers.jsonl": "c78d72f787b5d163",
        "invoices.jsonl": "632e00593020dcc0",
        "plans.jsonl": "1e3c865f859ce7b8",
    },
    ("--end", "2027-03-20"): {
        "customers.csv": "5c252f28ded6b846",
        "invoice_lines.csv": "3a1b0256d277fcf9",
        "invoices.csv": "d8fc96c4b6de75ec",
        "plans.csv": "2768b49c01db6df1",
        "subscriptions.csv": "a18a0dd37842241c",
        "transactions.csv": "b5c427b23cd6af60",
    },
    ("--end", "2026-11-01", "--seed", "9"): {
        "customers.csv": "736de0294db96228",
        "invoice_lines.csv": "4b05d5f9e2e9d2dd",
        "invoices.csv": "d698b80ba12a6fcf",
        "plans.csv": "475288d058a0e29e",
        "subscriptions.csv": "8f6a85885e5836a8",
        "transactions.csv": "e21bf8acd8fa0e14",
    },
}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("args", list(PINNED), ids=" ".join)
def test_generated_files_are_those_of_before_the_move(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
) -> None:
    assert main(["sample", "generate", str(tmp_path / "out"), *args]) == 0
    assert _digests(tmp_path / "out") == PINNED[args]
    out = capsys.readouterr().out
    fmt = "jsonl" if "jsonl" in args else "csv"
    which = "invoices-only sample" if "--invoices-only" in args else "sample"
    assert out == f"wrote the {fmt} {which} for {args[1][:7]} to {tmp_path / 'out'}\n"


def test_the_default_end_is_this_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    assert main(["sample", "generate", str(tmp_path), "--invoices-only"]) == 0
    month = capsys.readouterr().out.split(" for ")[1][:7]
    assert month in {f"{before:%Y-%m}", f"{datetime.now(UTC):%Y-%m}"}
    issued = (tmp_path / "invoices.csv").read_text("utf-8").splitlines()[-1].split(",")[2]
    assert issued.startswith(month)  # the last invoice month is the --end month


@pytest.mark.parametrize(("args", "message"), [
    (["--end", "2026-13-01"], "--end: not a date"),
    (["--format", "xml"], "'xml' is not one of"),
    (["--seed", "x"], "'x' is not a valid integer"),
])
def test_bad_options_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], message: str) -> None:
    assert main(["sample", "generate", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_module_entry_point_is_gone() -> None:
    """``python -m saasync.sample`` was replaced by the command; nothing is left behind."""
    import importlib.util

    assert importlib.util.find_spec("saasync.sample") is None
    assert importlib.util.find_spec("saasync.sample_data") is None
