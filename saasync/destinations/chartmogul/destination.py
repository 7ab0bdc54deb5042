"""ChartMogul over HTTP: the ``Destination`` that pushes to the real Import API.

Idempotency comes from external ids (ChartMogul has no idempotency key, docs/chartmogul.md):
a create that answers 422 "already exists" — a retried POST whose first attempt landed,
or a record someone else made — is read back and compared. Equal is success with the
existing uuid; different raises :class:`RecordConflict` (a ``ConflictError``) naming
the fields, never silently ignored. A record ChartMogul refuses is a ``BadRecordError``
the engine quarantines; 401/403 is an ``AuthError`` naming the key's variable.

Invoices of one customer go in one request per 100; each invoice gets its own
``InvoiceResult``, conflicts as :class:`InvoiceConflict`. Bulk imports (``bulk.py``) and
read-back for dry runs (``readback.py``) use the same client and mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

import structlog

from saasync.destinations.base import InvoiceResult
from saasync.destinations.chartmogul.bulk import BulkImporter
from saasync.destinations.chartmogul.client import (
    ChartMogulClient,
    Lookups,
    already_exists,
    build_http,
    error_messages,
    error_text,
    is_duplicate,
    only_duplicates,
    refused,
    set_cancellation_dates,
)
from saasync.destinations.chartmogul.mapping import (
    JSON,
    InvoiceConflict,
    RecordConflict,
    added_transactions,
    customer_body,
    customer_doc,
    customer_from_api,
    customer_patch,
    differences,
    invoice_body,
    invoice_doc,
    invoice_from_api,
    per_invoice_answers,
    plan_body,
    plan_doc,
    plan_from_api,
    plan_patch,
    transaction_body,
)
from saasync.destinations.chartmogul.readback import DestinationSnapshot, Progress, read_state
from saasync.errors import BadRecordError, ConfigError, FatalError
from saasync.http import BasicAuth, HttpClient, SecretRegistry, read_secret
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice, OutTransaction
from saasync.settings import DestinationSettings

INVOICE_CHUNK = 100  # invoices per import request; ChartMogul sets no cap, this keeps bodies small
log = structlog.get_logger("saasync.chartmogul")


class ChartMogulDestination:
    """A ``Destination`` on one ChartMogul account; ``ensure_data_source`` selects the source.

    ``http`` replaces the client built from ``settings`` (a shared session, a local
    server); the key is still read from the environment and registered as a secret.
    ``sleep`` and ``clock`` (monotonic seconds) drive retries, pacing and bulk polling.
    The id caches are per instance and unguarded: share the HttpClient (and its limiter)
    between threads, not one destination.
    """

    name = "chartmogul"

    def __init__(self, settings: DestinationSettings, env: Mapping[str, str], *, http: HttpClient | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 secrets: SecretRegistry | None = None) -> None:
        try:
            key = read_secret(env, settings.api_key_env)
        except ConfigError as exc:
            raise ConfigError(f"destination chartmogul: {exc}") from None
        self.settings = settings
        self.key_env: str = settings.api_key_env
        self._owns_http = http is None
        self._http = http if http is not None else build_http(
            settings, key, sleep=sleep, clock=clock, secrets=secrets)
        for secret in BasicAuth.api_key(key).secrets:
            self._http.secrets.register(secret)
        self.client = ChartMogulClient(self._http)
        self._sleep = sleep
        self._clock = clock
        self._ids: Lookups | None = None
        self._ds_name: str | None = None
        self._customers: dict[str, tuple[str, Customer]] = {}
        self._plans: dict[str, tuple[str, Plan]] = {}

    def __repr__(self) -> str:
        return f"ChartMogulDestination({self._http.base_url!r}, key from ${self.key_env})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- data source ----------------------------------------------------------------------
    @property
    def data_source_uuid(self) -> str | None:
        return self._ids.ds if self._ids is not None else None

    def find_data_source(self, name: str) -> str | None:
        """The uuid of the data source called ``name``, or None; never creates (dry runs)."""
        for source in self.client.list_data_sources(name):
            if source.get("name") == name:
                return str(source["uuid"])
        return None

    def ensure_data_source(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise BadRecordError("name: can't be blank", status=422)
        if self._ids is not None and self._ds_name == name:
            return self._ids.ds  # found or made earlier by this destination: no second request
        uuid = self.find_data_source(name)
        if uuid is None:
            try:
                uuid = str(self.client.create_data_source(name)["uuid"])
            except BadRecordError as exc:
                uuid = self.find_data_source(name) if already_exists(exc, "data_source") else None
                if uuid is None:
                    raise FatalError(
                        f"ChartMogul would not create data source {name!r}: {exc} (a data "
                        "source deleted moments ago keeps its name until its cleanup ends)"
                    ) from exc
        if self._ids is None or self._ids.ds != uuid:
            self._ids = Lookups(self.client, uuid)
            self._customers.clear()
            self._plans.clear()
        self._ds_name = name
        return uuid

    def auto_churn_setting(self, name: str) -> JSON | None:
        """The data source's own automatic churn setting (read, never changed)."""
        return self.client.auto_churn_setting(self.ensure_data_source(name))

    def _lookups(self) -> Lookups:
        if self._ids is None:
            raise FatalError("no ChartMogul data source selected: call ensure_data_source() first")
        return self._ids

    # -- customers and plans --------------------------------------------------------------
    def upsert_customer(self, customer: Customer) -> str:
        """Create, or PATCH the fields that differ; return the ``cus_…`` uuid."""
        ids, ext = self._lookups(), customer.external_id
        known = self._customers.get(ext)
        if known is None:
            found = self.client.find_customer(ids.ds, ext)
            if found is None:
                return self._create_customer(customer)
            known = (str(found["uuid"]), customer_from_api(found))
        uuid, held = known
        patch = customer_patch(customer, held)
        if patch:
            try:
                self.client.update_customer(uuid, patch)
            except BadRecordError as exc:
                raise refused(f"customer {ext!r}", exc) from exc
        self._customers[ext] = (uuid, customer)
        ids.remember_customer(ext, uuid)
        return uuid

    def create_customer(self, customer: Customer) -> str:
        """A customer saasync never pushed: POST at once (no lookup first); an "already
        exists" answer is still read back and compared, so this is as safe as upsert."""
        return self._create_customer(customer)

    def _create_customer(self, customer: Customer) -> str:
        ids, ext = self._lookups(), customer.external_id
        try:
            answer = self.client.create_customer(customer_body(customer, ids.ds))
        except BadRecordError as exc:
            found = self.client.find_customer(ids.ds, ext) if already_exists(exc, "customer") else None
            if found is None:
                raise refused(f"customer {ext!r}", exc) from exc
            self._same_or_conflict("customer", ext, customer_doc(customer_from_api(found)),
                                   customer_doc(customer))
            answer = found
        uuid = str(answer["uuid"])
        self._customers[ext] = (uuid, customer)
        ids.remember_customer(ext, uuid)
        return uuid

    def upsert_plan(self, plan: Plan) -> str:
        """Create, or PATCH name and interval where they differ; return the ``pl_…`` uuid."""
        ids, ext = self._lookups(), plan.external_id
        known = self._plans.get(ext)
        if known is None:
            found = self.client.find_plan(ids.ds, ext)
            if found is None:
                return self._create_plan(plan)
            known = (str(found["uuid"]), plan_from_api(found))
        uuid, held = known
        patch = plan_patch(plan, held)
        if patch:
            try:
                self.client.update_plan(uuid, patch)
            except BadRecordError as exc:
                raise refused(f"plan {ext!r}", exc) from exc
        self._plans[ext] = (uuid, plan)
        ids.remember_plan(ext, uuid)
        return uuid

    def _create_plan(self, plan: Plan) -> str:
        ids, ext = self._lookups(), plan.external_id
        try:
            answer = self.client.create_plan(plan_body(plan, ids.ds))
        except BadRecordError as exc:
            found = self.client.find_plan(ids.ds, ext) if already_exists(exc, "plan") else None
            if found is None:
                raise refused(f"plan {ext!r}", exc) from exc
            self._same_or_conflict("plan", ext, plan_doc(plan_from_api(found)), plan_doc(plan))
            answer = found
        uuid = str(answer["uuid"])
        self._plans[ext] = (uuid, plan)
        ids.remember_plan(ext, uuid)
        return uuid

    def _same_or_conflict(self, kind: str, external_id: str, theirs: JSON, ours: JSON) -> None:
        diffs = differences(theirs, ours)
        if diffs:
            raise RecordConflict(kind, external_id, diffs)
        log.info("chartmogul.already_there", kind=kind, external_id=external_id)

    # -- invoices -------------------------------------------------------------------------
    def import_invoices(self, customer_external_id: str,
                        invoices: Sequence[OutInvoice]) -> list[InvoiceResult]:
        """Import one customer's invoices, 100 per request, answering per invoice."""
        ids = self._lookups()
        customer_uuid = ids.customer_uuid(customer_external_id)
        if customer_uuid is None:
            raise BadRecordError(f"customer {customer_external_id!r} not found at ChartMogul",
                                 status=404)
        results: dict[str, InvoiceResult] = {}
        ready: list[tuple[OutInvoice, JSON]] = []
        for invoice in invoices:
            problem, body = self._prepare(customer_external_id, invoice)
            if body is None:
                results[invoice.external_id] = InvoiceResult(invoice.external_id, None, problem)
            else:
                ready.append((invoice, body))
        for start in range(0, len(ready), INVOICE_CHUNK):
            results.update(self._import_chunk(customer_uuid, ready[start:start + INVOICE_CHUNK]))
        return [results[invoice.external_id] for invoice in invoices]

    def _prepare(self, customer_external_id: str, invoice: OutInvoice) -> tuple[str, JSON | None]:
        """The request body, or why the invoice cannot be sent (as the local store says it)."""
        if invoice.customer_external_id != customer_external_id:
            return (f"customer_external_id: {invoice.customer_external_id!r} is not the customer "
                    "of this import"), None
        plan_uuids: dict[str, str] = {}
        for line in invoice.lines:
            ext = line.plan_external_id
            if ext is not None and ext not in plan_uuids:
                uuid = self._lookups().plan_uuid(ext)
                if uuid is None:
                    return f"line_items.plan_uuid: no plan with external_id {ext!r}", None
                plan_uuids[ext] = uuid
        return "", invoice_body(invoice, plan_uuids)

    def _import_chunk(self, customer_uuid: str, chunk: list[tuple[OutInvoice, JSON]],
                      second_try: bool = False) -> dict[str, InvoiceResult]:
        try:
            answer = self.client.import_invoices(customer_uuid, [body for _, body in chunk])
        except BadRecordError as exc:
            answers = per_invoice_answers(exc.body)
            if answers is None and len(chunk) == 1 and exc.status == 422:
                answers = [{"external_id": chunk[0][0].external_id,
                            "errors": error_messages(exc.body)}]
            if answers is None and len(chunk) > 1 and exc.status == 422:
                # Not attributable to one invoice: one request each makes every outcome clear.
                return {k: v for item in chunk
                        for k, v in self._import_chunk(customer_uuid, [item]).items()}
            if answers is None:
                text = f"refused by ChartMogul ({exc.status}): {error_text(exc.body) or exc}"
                return {inv.external_id: InvoiceResult(inv.external_id, None, text)
                        for inv, _ in chunk}
            return self._settle(customer_uuid, chunk, answers, stored=False, second_try=second_try)
        answers = answer.get("invoices")
        return self._settle(customer_uuid, chunk, answers if isinstance(answers, list) else [],
                            stored=True, second_try=second_try)

    def _settle(self, customer_uuid: str, chunk: list[tuple[OutInvoice, JSON]], answers: list[Any],
                *, stored: bool, second_try: bool) -> dict[str, InvoiceResult]:
        """Per-invoice outcomes. Clean answers of a refused (422) request may or may not
        have been stored (UNCONFIRMED, §1.6), so those are read back like duplicates."""
        by_ext = {str(a.get("external_id")): a for a in answers if isinstance(a, dict)}
        out: dict[str, InvoiceResult] = {}
        for invoice, body in chunk:
            ext = invoice.external_id
            answer = by_ext.get(ext, {})
            messages = error_messages({"errors": answer.get("errors")}) if answer.get("errors") else {}
            if stored and not messages and answer.get("uuid"):
                out[ext] = InvoiceResult(ext, str(answer["uuid"]))
                continue
            if messages and not (is_duplicate(messages, "invoice") and only_duplicates(messages)):
                out[ext] = InvoiceResult(ext, None, error_text({"errors": answer["errors"]}))
                continue
            held = self._read_back(customer_uuid, invoice)
            if held is not None:
                out[ext] = held
            elif second_try or messages:
                out[ext] = InvoiceResult(ext, None, "ChartMogul neither stored nor refused this "
                                         f"invoice: {error_text({'errors': messages}) or 'no answer'}")
            else:
                out.update(self._import_chunk(customer_uuid, [(invoice, body)], second_try=True))
        return out

    def _read_back(self, customer_uuid: str, invoice: OutInvoice) -> InvoiceResult | None:
        """Equal → success with ChartMogul's uuid; different → InvoiceConflict; absent → None."""
        found = self.client.find_invoice(self._lookups().ds, invoice.external_id)
        if found is None:
            return None
        diffs = self._invoice_diffs(found, invoice, customer_uuid)
        if diffs:
            conflict = RecordConflict("invoice", invoice.external_id, diffs)
            return InvoiceConflict(invoice.external_id, None, str(conflict), conflict.fields)
        log.info("chartmogul.already_there", kind="invoice", external_id=invoice.external_id)
        return InvoiceResult(invoice.external_id, str(found["uuid"]))

    def _invoice_diffs(self, found: JSON, invoice: OutInvoice,
                       customer_uuid: str) -> list[tuple[str, Any, Any]]:
        held = invoice_from_api(found, invoice.customer_external_id, self._lookups().plan_external_id)
        diffs = differences(invoice_doc(held), invoice_doc(invoice))
        if found.get("customer_uuid") not in (None, customer_uuid):
            diffs.insert(0, ("customer_uuid", found["customer_uuid"], customer_uuid))
        return diffs

    def replace_invoice(self, invoice: OutInvoice) -> str:
        """New content under a known invoice. Lines of an imported invoice cannot be edited:
        delete it and import again, unless only transactions were added (then add those).
        An invoice not found is imported: a replace that stopped after its delete resumes.
        """
        ids, ext = self._lookups(), invoice.external_id
        found = self.client.find_invoice(ids.ds, ext)
        if found is None:
            return self._import_one(invoice)
        uuid = str(found["uuid"])
        customer_uuid = ids.customer_uuid(invoice.customer_external_id)
        live = found.get("status") not in ("voided", "written_off")
        if live and customer_uuid is not None and not self._invoice_diffs(found, invoice,
                                                                          customer_uuid):
            return uuid
        held = invoice_from_api(found, invoice.customer_external_id, ids.plan_external_id)
        added = added_transactions(invoice_doc(held), invoice)
        if live and found.get("customer_uuid") in (None, customer_uuid) and added:
            for transaction in added:
                self._add_transaction(uuid, invoice, transaction)
            return uuid
        try:
            self.client.delete_invoice(uuid)
        except BadRecordError as exc:
            raise refused(f"invoice {ext!r}", exc) from exc
        return self._import_one(invoice)

    def _add_transaction(self, uuid: str, invoice: OutInvoice, transaction: OutTransaction) -> None:
        try:
            self.client.add_transaction(uuid, transaction_body(transaction))
        except BadRecordError as exc:
            messages = error_messages(exc.body)
            taken = exc.status == 422 and only_duplicates(messages)
            found = self.client.find_invoice(self._lookups().ds, invoice.external_id) if taken else None
            if found is None:
                raise refused(f"invoice {invoice.external_id!r} transaction", exc) from exc
            customer_uuid = str(found.get("customer_uuid") or "")
            held = invoice_from_api(found, invoice.customer_external_id,
                                    self._lookups().plan_external_id)
            if transaction.doc() not in invoice_doc(held)["transactions"]:
                diffs = self._invoice_diffs(found, invoice, customer_uuid)
                raise RecordConflict("invoice", invoice.external_id, diffs) from exc

    def _import_one(self, invoice: OutInvoice) -> str:
        result = self.import_invoices(invoice.customer_external_id, [invoice])[0]
        if isinstance(result, InvoiceConflict):
            raise RecordConflict("invoice", invoice.external_id,
                                 [(f, None, None) for f in result.fields], message=result.error)
        if result.error or result.destination_id is None:
            raise BadRecordError(f"invoice {invoice.external_id!r}: {result.error}", status=422)
        return result.destination_id

    def void_invoice(self, invoice_external_id: str) -> None:
        """PUT …/invoices/{external_id}/status ``voided``; already voided is success."""
        ids = self._lookups()
        try:
            self.client.set_invoice_status(ids.ds, invoice_external_id, "voided")
        except BadRecordError as exc:
            if exc.status == 422:
                found = self.client.find_invoice(ids.ds, invoice_external_id)
                if found is not None and found.get("status") == "voided":
                    return
            raise refused(f"invoice {invoice_external_id!r}", exc) from exc

    # -- subscriptions --------------------------------------------------------------------
    def set_cancellation_dates(self, customer_external_id: str, subscription_external_id: str,
                               dates: Sequence[datetime]) -> None:
        set_cancellation_dates(self.client, self._lookups(), customer_external_id,
                               subscription_external_id, dates)

    # -- read-back and bulk ---------------------------------------------------------------
    def snapshot(self, data_source: str | None = None, *,
                 progress: Progress | None = None) -> DestinationSnapshot:
        """What the data source holds (read-only); a source that does not exist is empty.
        ``progress(stage, done, total)`` hears of the listings as they go."""
        uuid = self.data_source_uuid if data_source is None else self.find_data_source(data_source)
        if uuid is None:
            return DestinationSnapshot.empty()
        return read_state(self.client, uuid, progress=progress)

    def settle_import(self, data_source_uuid: str, import_id: str,
                      found: Mapping[str, Any]) -> list[Any] | None:
        """A bulk import a dead run left in flight, polled until done: its records'
        results (``saasync.inflight``); None when ChartMogul does not know it."""
        return BulkImporter(self.client, data_source_uuid, sleep=self._sleep,
                            clock=self._clock).settle(import_id, found)

    def bulk_importer(self, **options: Any) -> BulkImporter:
        """A BulkImporter on the selected data source, sharing client, sleep and clock."""
        return BulkImporter(self.client, self._lookups().ds, sleep=self._sleep, clock=self._clock,
                            **options)
