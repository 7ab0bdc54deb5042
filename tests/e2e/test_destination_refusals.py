"""A record the destination refuses is quarantined with its reason; the run goes on; counts add up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saasync.connector import ConnectorContext
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import BadRecordError, ConflictError
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from saasync_connectors.files.connector import FilesConnector
from tests.e2e.conftest import SAMPLE


class Picky:
    """Refuses one customer (4xx) and conflicts on one invoice."""

    name = "picky"

    def __init__(self, inner: LocalStore) -> None:
        self.inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def upsert_customer(self, customer: Any) -> str:
        if customer.external_id == "cus_jpy":
            raise BadRecordError("email: is invalid", status=422)
        return self.inner.upsert_customer(customer)

    def replace_invoice(self, invoice: Any) -> str:
        return self.inner.replace_invoice(invoice)

    def import_invoices(self, customer: str, invoices: Any) -> Any:
        if customer == "cus_eur_vat":
            raise ConflictError("invoice inv_eur_vat_1 exists with a different amount_in_cents")
        return self.inner.import_invoices(customer, invoices)


def test_refused_records_are_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    connector = FilesConnector({"path": str(SAMPLE)}, ConnectorContext(base_dir=tmp_path))
    with StateStore(tmp_path / "state.db") as state, LocalStore(tmp_path / "a.db") as store:
        engine = Engine("s", connector, state, Picky(store), rules=RuleSettings(), data_source="s")  # type: ignore[arg-type]
        report = engine.run("sync")
        counts = report.counts()
        assert counts["balanced"] and report.status == "partial"
        assert report.get("customer", "cus_jpy").reason == "DESTINATION_REJECTED"  # type: ignore[union-attr]
        assert report.get("invoice", "inv_eur_vat_1").reason == "DESTINATION_CONFLICT"  # type: ignore[union-attr]
        assert [c["external_id"] for c in report.conflicts] == [
            i for i in ("inv_eur_vat_1", "inv_eur_vat_2", "inv_eur_vat_3")
        ]
        assert report.get("invoice", "inv_steady_monthly_1").outcome == "pushed"  # type: ignore[union-attr]
        reasons = {i.external_id: i.reason for i in state.review_items("s")}
        assert reasons["cus_jpy"] == "DESTINATION_REJECTED"
        assert reasons["inv_eur_vat_1"] == "DESTINATION_CONFLICT"
        # the refused customer stays dirty: the next run tries again, and succeeds once accepted
        engine.destination = store
        again = engine.run("sync")
        assert again.status == "ok"
        assert {"cus_jpy", "inv_eur_vat_1"}.isdisjoint({i.external_id for i in state.review_items("s")})
