"""Replay ChartMogul's recorded traffic against ``saasync serve``: same status, same shape.

Each cassette in ``tests/fixtures/chartmogul-recordings`` (provenance: its ``SOURCES.md``)
runs against a fresh server.
Requests are sent in the recorded order; every uuid and cursor a response hands out is
mapped (recorded value -> our value) and substituted in later requests. A cassette that
uses records it did not create (the Ruby suite ran against a prepared account) first gets
them seeded through the API from the records seen in any cassette (placeholders when a
record was never seen whole). Each answer must have the recorded status code and shape:
every field of the recorded body, at the top level and one level down (into objects and
the first element of lists of objects), with the same JSON type; ``null`` on either side
matches anything, extra fields are fine (we send the newest superset of the fields), and
text bodies (the 500/504 pages) must match exactly. Lists may be ordered differently, so
the first recorded element is compared with the best-matching element of ours.

Replayed: 69 of the 81 files, 200 of their 240 exchanges.
  Whole (57): go-customer_subscriptions, go-customers, go-delete_invoice, go-invoices,
  go-plans, go-retrieve_invoice, go-retrieve_metrics, go-subscriptions; ruby-Account-*;
  ruby-Customer-API_Actions-{creates, destroys, retrieves_the_customer, searches,
  raises_a_HTTP_404_if_searching, updates_customer (class and instance method),
  lists_the_invoices, lists_the_subscriptions, with_pagination (list and search)};
  ruby-Customer-_find_by_external_id-* (2); ruby-CustomerInvoices-* (3); ruby-DataSource-*
  (4); ruby-Invoice-* (4); ruby-Metrics_* (6); ruby-Ping-* (4: the 401 with a wrong key,
  the 500 and 504 pages by fault injection); ruby-Plan-* (6);
  ruby-Subscription-API_Interactions-{correctly_interracts, has_multiple_aliases,
  should_paginate}; ruby-Subscription-_update_cancellation_dates-* (4);
  ruby-Transactions_Payment-*.
  Partly (12): go-create_invoice (not the merge), go-empty_data_source (not #5),
  go-subscription_events (not the events), ruby-Customer-API_Actions-merges_..._instance_method
  and unmerges_..._instance_method (the customer reads), ruby-Subscription-API_Interactions-
  connects_subscriptions and disconnects_subscriptions (not the (dis)connect calls), and
  five ruby-SubscriptionEvent-* files (their data source, customer and plan calls).

Skipped exchanges, and the 12 files that hold nothing else:
  - customer merge and unmerge (``/customers/merges``, ``/customers/unmerges``): not
    emulated; files ruby-Customer-API_Actions-merges_..._class_method and
    unmerges_..._class_method;
  - customer attribute endpoints (``/customers/{uuid}/attributes…``,
    ``/customers/attributes/…``): not emulated (tags and custom attributes are set through
    create and PATCH); the nine ruby-Customer-API_Actions-*attributes* / *tags* files;
  - connect/disconnect subscriptions: not emulated;
  - subscription events (``/subscription_events``): not emulated (they feed CMRR only);
    file ruby-SubscriptionEvent-API_interactions-should_paginate_using_cursor_...;
  - go-empty_data_source #5: ChartMogul listed the invoices of a customer of the source it
    had just emptied (200; its deletion runs in the background); the emulator removes the
    customer at once and answers 404 ``{"error": "Customer not found"}``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from saasync.server.app import ServerHandle, make_server
from saasync.server.faults import FaultConfig
from tests.server.conftest import KEY

pytest.importorskip("yaml")
from tests.destinations.chartmogul.cassettes import Exchange, read_cassette

RECORDINGS = Path(
    os.environ.get("SAASYNC_CHARTMOGUL_RECORDINGS")
    or Path(__file__).resolve().parents[1] / "fixtures" / "chartmogul-recordings"
)
#: Files in the fixture folder (the docstring's count): fewer means the folder is damaged.
EXPECTED_CASSETTES = 81
ID = re.compile(r"(?:ds|cus|pl|inv|li|tr|sub)_[0-9a-f][0-9a-f-]{7,}")
SEEDABLE = ("ds", "pl", "cus", "inv", "sub")

UNSUPPORTED = [
    (r"/v1/customers/(merges|unmerges)$", "customer merge and unmerge are not emulated"),
    (r"/v1/customers/([^/]+/)?attributes", "customer attribute endpoints are not emulated"),
    (
        r"/v1/customers/[^/]+/(dis)?connect_subscriptions$",
        "connecting subscriptions is not emulated",
    ),
    (r"/v1/subscription_events", "subscription events (CMRR) are not emulated"),
]
INTERACTION_SKIPS = {
    ("go-empty_data_source.yaml", 5): "ChartMogul answered 200 for a customer of the source it "
    "had just emptied (deletion runs in the background); the emulator answers 404",
}
FAULTS = {
    "ruby-Ping-pings-and_fails_with_500_internal_server_error.yml": FaultConfig(
        p_5xx=1.0, codes_5xx=(500,)
    ),
    "ruby-Ping-pings-and_fails_with_504_gateway_timeout_error.yml": FaultConfig(
        p_5xx=1.0, codes_5xx=(504,)
    ),
}


def load(path: Path) -> tuple[Exchange, ...]:
    return read_cassette(path)


def find_cassettes(folder: Path) -> list[Path]:
    """The cassettes in ``folder``. A missing or empty folder is an error, never zero cases:
    a replay test that collects nothing would pass while checking nothing."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no recordings folder at {folder}")
    found = sorted(folder.glob("*.y*ml"))
    if not found:
        raise FileNotFoundError(f"no recordings (*.yml, *.yaml) in {folder}")
    return found


def cassettes() -> list[Path]:
    return find_cassettes(RECORDINGS)


# -- the records every cassette saw, for seeding ------------------------------------------


def _walk(
    value: Any, customer: str | None, found: dict[str, tuple[dict[str, Any], str | None]]
) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, customer, found)
    elif isinstance(value, dict):
        customer = value.get("customer_uuid", customer)
        uuid = value.get("uuid")
        if isinstance(uuid, str) and ID.fullmatch(uuid) and uuid.split("_")[0] in SEEDABLE:
            found.setdefault(uuid, (value, customer if not uuid.startswith("cus_") else None))
        for item in value.values():
            _walk(item, customer, found)


def record_index() -> dict[str, tuple[dict[str, Any], str | None]]:
    """uuid -> (a recorded body of it, the customer it belongs to when known)."""
    found: dict[str, tuple[dict[str, Any], str | None]] = {}
    for path in cassettes():
        for exchange in load(path):
            owner = re.search(r"/customers/(cus_[^/]+)/", exchange.path)
            _walk(exchange.response_json(), owner.group(1) if owner else None, found)
    return found


INDEX = record_index()


def _ids(text: str) -> set[str]:
    return set(ID.findall(text))


def pre_existing(exchanges: list[Exchange]) -> list[str]:
    """Ids the cassette uses but never creates (created: first seen in a POST's answer)."""
    created: set[str] = set()
    used: set[str] = set()
    for ex in exchanges:
        asked = _ids(ex.url) | _ids(ex.request_text)
        answered = _ids(ex.response_text)
        if ex.method == "POST" and 200 <= ex.status < 300:
            created |= answered - asked - used
        used |= asked | answered
    order = {kind: i for i, kind in enumerate(SEEDABLE)}
    wanted = [i for i in used - created if i.split("_")[0] in SEEDABLE]
    return sorted(wanted, key=lambda i: (order[i.split("_")[0]], i))


# -- mapping recorded values to ours -------------------------------------------------------


def learn(recorded: Any, ours: Any, mapping: dict[str, Any]) -> None:
    if isinstance(recorded, dict) and isinstance(ours, dict):
        for key, value in recorded.items():
            if key not in ours:
                continue
            if key == "cursor" and isinstance(value, str):
                mapping[value] = ours[key]
            elif isinstance(value, str) and ID.fullmatch(value) and isinstance(ours[key], str):
                mapping.setdefault(value, ours[key])
            else:
                learn(value, ours[key], mapping)
    elif isinstance(recorded, list) and isinstance(ours, list):

        def keys(items: list[Any]) -> list[Any]:
            return [i.get("external_id") if isinstance(i, dict) else None for i in items]

        rec_keys, our_keys = keys(recorded), keys(ours)
        if all(rec_keys) and len(set(rec_keys)) == len(rec_keys) == len(set(our_keys)):
            by_key = dict(zip(our_keys, ours, strict=True))
            pairs = [(r, by_key[k]) for r, k in zip(recorded, rec_keys, strict=True) if k in by_key]
        else:
            pairs = list(zip(recorded, ours, strict=False))
        for rec, our in pairs:
            learn(rec, our, mapping)


def substitute(value: Any, mapping: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    return value


def request_of(exchange: Exchange, base: str, mapping: dict[str, Any]) -> tuple[str, str | None]:
    parts = urlsplit(exchange.url)
    path = "/".join(str(mapping.get(seg, seg)) for seg in parts.path.split("/"))
    query = [(k, mapping.get(v, v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if v is not None]
    url = base.removesuffix("/v1") + path + (f"?{urlencode(query)}" if query else "")
    body: str | None = None
    if exchange.request_text:
        try:
            body = json.dumps(substitute(json.loads(exchange.request_text), mapping))
        except ValueError:
            body = exchange.request_text
    return url, body


# -- shape ---------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _first_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return None


def shape_problems(recorded: dict[str, Any], ours: dict[str, Any], where: str = "$",
                   levels: int = 2) -> list[str]:  # fmt: skip
    problems = []
    for key, value in recorded.items():
        if key not in ours:
            problems.append(f"{where}.{key} is missing")
            continue
        kinds = {_kind(value), _kind(ours[key])}
        if len(kinds) > 1 and "null" not in kinds:
            problems.append(f"{where}.{key} is {_kind(ours[key])}, recorded {_kind(value)}")
            continue
        if levels > 1 and _first_object(value) is not None:
            if isinstance(value, list) and not ours[key]:
                problems.append(f"{where}.{key} is empty, recorded {len(value)} element(s)")
            elif _first_object(ours[key]) is not None:
                wanted = _first_object(value) or {}
                candidates = ours[key] if isinstance(ours[key], list) else [ours[key]]
                problems += min(  # lists may be ordered differently: the best-matching element
                    (
                        shape_problems(wanted, c, f"{where}.{key}", 1)
                        for c in candidates
                        if isinstance(c, dict)
                    ),
                    key=len,
                )
    return problems


# -- seeding -------------------------------------------------------------------------------


class Seeder:
    """Creates, through the API, the records a cassette expects to exist."""

    def __init__(self, session: requests.Session, base: str, mapping: dict[str, Any]) -> None:
        self.session, self.base, self.mapping = session, base, mapping

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self.base + path, json=body, timeout=10)
        assert response.status_code < 300, (method, path, body, response.text)
        return response.json()

    def doc(self, uuid: str) -> tuple[dict[str, Any], str | None]:
        return INDEX.get(uuid, ({}, None))

    def ensure(self, uuid: str | None, kind: str, ds: str | None = None) -> str:
        """Our uuid for a recorded one, creating the record first if needed; a plan whose
        data source is unknown goes into ``ds`` (ours), the source of its customer."""
        if uuid is None:
            uuid = f"{kind}_00000000-placeholder"
        if uuid not in self.mapping:
            if kind == "pl":
                self._pl(uuid, ds)
            else:
                getattr(self, f"_{kind}")(uuid)
        return str(self.mapping[uuid])

    def source_of(self, customer: str) -> str:
        return str(self.call("GET", f"/customers/{customer}")["data_source_uuid"])

    def _ds(self, uuid: str) -> None:
        doc, _ = self.doc(uuid)
        made = self.call("POST", "/data_sources", {"name": f"seed {doc.get('name', uuid)}"})
        self.mapping[uuid] = made["uuid"]

    def _pl(self, uuid: str, ds: str | None) -> None:
        doc, _ = self.doc(uuid)
        source = self.ensure(doc["data_source_uuid"], "ds") if doc else ds
        body = {"data_source_uuid": source or self.ensure(None, "ds"),
                "name": doc.get("name", "Seed plan"), "external_id": doc.get("external_id", uuid),
                "interval_count": doc.get("interval_count", 1),
                "interval_unit": doc.get("interval_unit", "month")}  # fmt: skip
        self.mapping[uuid] = self.call("POST", "/plans", body)["uuid"]

    def _cus(self, uuid: str) -> None:
        doc, _ = self.doc(uuid)
        body = {
            "data_source_uuid": self.ensure(doc.get("data_source_uuid"), "ds"),
            "external_id": doc.get("external_id", uuid),
            "name": doc.get("name", "Seed"),
            **{k: doc[k] for k in ("email", "company", "country", "city") if doc.get(k)},
        }
        made = self.call("POST", "/customers", body)
        self.mapping[uuid] = made["uuid"]

    def _inv(self, uuid: str) -> None:
        doc, customer = self.doc(uuid)
        target = self.ensure(customer, "cus")
        ds = self.source_of(target)
        lines = [self._line(line, ds) for line in doc.get("line_items", [])] or [
            {"type": "one_time", "amount_in_cents": 100}
        ]
        invoice = {"external_id": doc.get("external_id", uuid), "date": doc.get("date", "2016-01-01"),
                   "due_date": doc.get("due_date"), "currency": doc.get("currency", "USD"),
                   "line_items": lines,
                   "transactions": [{k: t[k] for k in ("type", "date", "result", "external_id",
                                                       "amount_in_cents") if t.get(k) is not None}
                                    for t in doc.get("transactions", [])]}  # fmt: skip
        made = self.call("POST", f"/import/customers/{target}/invoices", {"invoices": [invoice]})
        learn({"invoices": [doc]} if doc else {}, made, self.mapping)
        self.mapping.setdefault(uuid, made["invoices"][0]["uuid"])

    def _line(self, line: dict[str, Any], ds: str) -> dict[str, Any]:
        out = {k: line[k] for k in ("type", "amount_in_cents", "quantity", "description",
                                    "subscription_external_id", "service_period_start",
                                    "service_period_end", "external_id", "tax_amount_in_cents",
                                    "discount_amount_in_cents") if line.get(k) is not None}  # fmt: skip
        if line.get("type") == "subscription":
            out["plan_uuid"] = self.ensure(line.get("plan_uuid"), "pl", ds)
        return out

    def _sub(self, uuid: str) -> None:
        doc, customer = self.doc(uuid)
        target = self.ensure(customer, "cus")
        external_id = doc.get("external_id", uuid)
        line = {
            "type": "subscription",
            "subscription_external_id": external_id,
            "plan_uuid": self.ensure(doc.get("plan_uuid"), "pl", self.source_of(target)),
            "amount_in_cents": 1000,
            "service_period_start": "2016-01-01",
            "service_period_end": "2016-02-01",
        }
        invoice = {
            "external_id": f"seed-{uuid}",
            "date": "2016-01-01",
            "currency": "USD",
            "line_items": [line],
        }
        self.call("POST", f"/import/customers/{target}/invoices", {"invoices": [invoice]})
        listed = self.call("GET", f"/import/customers/{target}/subscriptions")["subscriptions"]
        self.mapping[uuid] = next(s["uuid"] for s in listed if s["external_id"] == external_id)


# -- the test ------------------------------------------------------------------------------


def unsupported(exchange: Exchange) -> str | None:
    return next((why for pattern, why in UNSUPPORTED if re.search(pattern, exchange.path)), None)


@pytest.fixture
def replay_server(request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    faults = FAULTS.get(request.node.callspec.params["cassette"].name, FaultConfig())
    with make_server(":memory:", rate_limit=0, max_concurrency=0, faults=faults) as handle:
        yield handle


@pytest.mark.parametrize("cassette", cassettes(), ids=lambda p: p.name)
def test_recording_replays_with_the_same_status_and_shape(
    cassette: Path, replay_server: ServerHandle
) -> None:
    exchanges = load(cassette)
    plan = [(i, ex, INTERACTION_SKIPS.get((cassette.name, i)) or unsupported(ex))
            for i, ex in enumerate(exchanges)]  # fmt: skip
    if all(reason for _, _, reason in plan):
        pytest.skip("; ".join(sorted({str(reason) for _, _, reason in plan})))
    session = requests.Session()
    session.auth = (KEY, "")
    mapping: dict[str, Any] = {}
    seeder = Seeder(session, replay_server.url, mapping)
    needed = pre_existing([ex for _, ex, reason in plan if not reason])
    # A plan never seen whole is made by the first invoice that needs it, in its source.
    later = [u for u in needed if u.startswith("pl_") and u not in INDEX]
    for uuid in [u for u in needed if u not in later] + later:
        seeder.ensure(uuid, uuid.split("_")[0])
    problems: list[str] = []
    for i, exchange, reason in plan:
        if reason:
            continue
        url, body = request_of(exchange, replay_server.url, mapping)
        auth = ("not-the-key", "") if exchange.status == 401 else (KEY, "")
        headers = {"Content-Type": "application/json"} if body else {}
        got = session.request(exchange.method, url, data=body, auth=auth, headers=headers,
                              timeout=10)  # fmt: skip
        label = f"#{i} {exchange.method} {exchange.path}"
        if got.status_code != exchange.status:
            problems.append(f"{label}: status {got.status_code}, recorded {exchange.status}: "
                            f"{got.text[:300]}")  # fmt: skip
            continue
        recorded = exchange.response_json()
        if not exchange.response_text:
            if got.content:
                problems.append(f"{label}: body {got.text[:100]!r}, recorded none")
        elif recorded is None:
            if got.text != exchange.response_text:
                problems.append(f"{label}: body {got.text!r}, recorded {exchange.response_text!r}")
        elif isinstance(recorded, dict):
            ours = got.json()
            problems += [f"{label}: {p}" for p in shape_problems(recorded, ours)]
            learn(recorded, ours, mapping)
    assert not problems, "\n".join(problems)


def test_recordings_fixture_is_complete() -> None:
    assert len(cassettes()) == EXPECTED_CASSETTES, RECORDINGS


def test_recordings_fixture_missing_is_a_failure(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no recordings folder"):
        find_cassettes(tmp_path / "absent")
    (tmp_path / "README.md").write_text("not a cassette", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no recordings"):
        find_cassettes(tmp_path)
