"""Every connector's contract harness, found by file name: ``<connector>_harness.py`` in this
folder, defining a class named ``Harness``. A new connector adds its file; nothing else."""

from __future__ import annotations

import importlib
from pathlib import Path

from tests.connectors.contract.harness import ContractHarness


def _discover() -> list[ContractHarness]:
    found: list[ContractHarness] = []
    for path in sorted(Path(__file__).parent.glob("*_harness.py")):
        module = importlib.import_module(f"tests.connectors.contract.{path.stem}")
        found.append(module.Harness())
    return found


HARNESSES: list[ContractHarness] = _discover()
