"""A run that dies after N accepted changes, then re-run, ends exactly like one clean run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from saasync.connector import ConnectorContext
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import FatalError
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from saasync_connectors.files.connector import FilesConnector
from tests.e2e.conftest import SAMPLE


class DiesAfter:
    """Wraps a destination; the (N+1)th change raises as if the process lost the network."""

    name = "dies-after"

    def __init__(self, inner: LocalStore, budget: int) -> None:
        self.inner = inner
        self.budget = budget

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.inner, attr)
        if attr in {"upsert_customer", "upsert_plan", "import_invoices", "replace_invoice",
                    "void_invoice", "set_cancellation_dates"}:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if self.budget <= 0:
                    raise FatalError("injected failure: connection lost")
                self.budget -= 1
                return target(*args, **kwargs)
            return guarded
        return target


def run_once(tmp: Path, store: LocalStore | DiesAfter) -> Any:
    connector = FilesConnector({"path": str(SAMPLE)}, ConnectorContext(base_dir=tmp))
    with StateStore(tmp / "state.db") as state:
        engine = Engine("sample", connector, state, store, rules=RuleSettings(), data_source="sample")  # type: ignore[arg-type]
        with state.lock("sample"):
            return engine.run("sync")


def clean_fingerprint(tmp: Path) -> str:
    with LocalStore(tmp / "clean.db") as store:
        run_once(tmp / "clean", store)
        return store.fingerprint()


@pytest.mark.parametrize("fail_after", [0, 1, 7, 150, 400])
def test_crash_then_rerun_equals_a_clean_run(tmp_path: Path, fail_after: int) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "crashy").mkdir()
    expected = clean_fingerprint(tmp_path)
    with LocalStore(tmp_path / "crashy.db") as store:
        with pytest.raises(FatalError):
            run_once(tmp_path / "crashy", DiesAfter(store, fail_after))
        with StateStore(tmp_path / "crashy" / "state.db") as state:
            assert state.get_cursor("sample") is None, "the cursor must not move on a failed run"
            assert state.runs("sample")[0].status == "failed"
        report = run_once(tmp_path / "crashy", store)
        assert report.status == "ok" and report.counts()["balanced"]
        assert store.fingerprint() == expected
        again = run_once(tmp_path / "crashy", store)
        assert sum(again.changes().values()) == 0
