"""A local fake of the Xero Accounting API (``/api.xro/2.0``) and Xero's token endpoint.

It behaves like Xero where the connector depends on it:

- ``GET /Invoices`` and ``GET /Contacts`` page with ``page=N`` (1-based) and
  ``pageSize`` (default 100), answer a ``pagination{page, pageSize, pageCount,
  itemCount}`` object, honour ``If-Modified-Since`` (records whose ``UpdatedDateUTC`` is
  after it), ``where`` (``Field=="text"``, ``Field==true``, ``Date >= DateTime(y, m, d)``
  joined by ``AND``) and ``order`` (``Field ASC|DESC``); Contacts hides ARCHIVED contacts
  unless ``includeArchived=true``; ``GET /RepeatingInvoices`` is not paged;
- dates are ``/Date(ms+0000)/``;
- every call needs a Bearer token from :class:`FakeOAuth` (401 otherwise) and the
  ``xero-tenant-id`` header of the organisation (403 otherwise); ``POST /connect/token``
  rotates refresh tokens.

Switches inject faults into the next data requests: ``throttle`` (429, ``Retry-After:
1``, ``X-Rate-Limit-Problem: minute``), ``day_limit`` (429, ``Retry-After`` in hours,
``X-Rate-Limit-Problem: day``), ``fail`` (503) and ``malformed`` (an HTML page).
"""

from __future__ import annotations

import copy
import json
import math
import operator
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.connectors.accounting.fake_server import FakeOAuth, FakeServer, Reply, Request

ORGANISATION = Path(__file__).parent / "fixtures" / "organisation.json"
TENANT = "70784a63-d24b-46a9-a4db-0e70a274b056"
API = "/api.xro/2.0"
TOKEN_PATH = "/connect/token"
PAGED = ("Invoices", "Contacts")
Obj = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONDITION = re.compile(r"^\s*(\w+)\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$")
_OPERATORS = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
              ">": operator.gt, "<": operator.lt}
_DATETIME = re.compile(r"^DateTime\((\d{4}),\s*(\d{1,2}),\s*(\d{1,2})\)$")


def load_organisation() -> dict[str, list[Obj]]:
    data: dict[str, list[Obj]] = json.loads(ORGANISATION.read_text(encoding="utf-8"))
    return data


def net_date(when: datetime) -> str:
    """Xero's JSON date: ``/Date(milliseconds+0000)/``."""
    return f"/Date({int((when - _EPOCH).total_seconds() * 1000)}+0000)/"


def parse_net_date(value: Any) -> datetime | None:
    found = re.match(r"^/Date\((-?\d+)", str(value or ""))
    return _EPOCH + timedelta(milliseconds=int(found.group(1))) if found else None


def _literal(text: str) -> Any:
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    found = _DATETIME.match(text)
    if found:
        return datetime(int(found.group(1)), int(found.group(2)), int(found.group(3)), tzinfo=UTC)
    raise ValueError(f"cannot read value {text!r}")


def matches(record: Obj, condition: str) -> bool:
    found = _CONDITION.match(condition)
    if found is None:
        raise ValueError(f"cannot parse where clause {condition!r}")
    name, op, wanted = found.group(1), found.group(2), _literal(found.group(3))
    value: Any = record.get(name)
    if isinstance(wanted, datetime):
        value = parse_net_date(value)
        if value is None:
            return False
    return bool(_OPERATORS[op](value, wanted))


def _sort_key(record: Obj, name: str) -> Any:
    value = record.get(name)
    when = parse_net_date(value)
    return when.isoformat() if when is not None else str(value)


class FakeXero(FakeServer):
    """Serve ``organisation`` for tenant ``TENANT`` until the context exits."""

    def __init__(self, organisation: dict[str, list[Obj]] | None = None, *, tenant: str = TENANT,
                 oauth: FakeOAuth | None = None, with_pagination: bool = True) -> None:
        super().__init__()
        self.data = copy.deepcopy(organisation if organisation is not None
                                  else load_organisation())
        self.tenant = tenant
        self.oauth = oauth if oauth is not None else FakeOAuth(expires_in=1800)
        self.with_pagination = with_pagination
        self.throttle = 0
        self.day_limit = 0
        self.fail = 0
        self.malformed = 0

    @property
    def base_url(self) -> str:
        return self.url + API

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self.oauth.token(request)
        if not self.oauth.authorized(request):
            return Reply(401, {"Type": None, "Title": "Unauthorized", "Status": 401,
                               "Detail": "TokenExpired: token expired"},
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if request.headers.get("xero-tenant-id") != self.tenant:
            return Reply(403, {"Type": None, "Title": "Forbidden", "Status": 403,
                               "Detail": "AuthenticationUnsuccessful"})
        fault = self._fault()
        if fault is not None:
            return fault
        collection = request.path.removeprefix(API + "/")
        if request.method != "GET" or collection not in (*PAGED, "RepeatingInvoices"):
            return Reply(404, {"Title": "Not Found", "Status": 404})
        try:
            return Reply(200, self.list(collection, request))
        except ValueError as exc:
            return Reply(400, {"ErrorNumber": 16, "Type": "QueryParseException",
                               "Message": str(exc)})

    def _fault(self) -> Reply | None:
        if self.throttle:
            self.throttle -= 1
            return Reply(429, "Rate limit exceeded", {"Retry-After": "1",
                                                      "X-Rate-Limit-Problem": "minute",
                                                      "X-MinLimit-Remaining": "0"})
        if self.day_limit:
            self.day_limit -= 1
            return Reply(429, "Rate limit exceeded", {"Retry-After": "50400",
                                                      "X-Rate-Limit-Problem": "day",
                                                      "X-DayLimit-Remaining": "0"})
        if self.fail:
            self.fail -= 1
            return Reply(503, "<html><body>Service Unavailable</body></html>")
        if self.malformed:
            self.malformed -= 1
            return Reply(200, "<html><body>Xero is down for maintenance</body></html>")
        return None

    def list(self, collection: str, request: Request) -> Obj:
        records = list(self.data.get(collection, []))
        query = request.query
        if collection == "Contacts" and query.get("includeArchived") != "true":
            records = [r for r in records if r.get("ContactStatus") != "ARCHIVED"]
        for condition in re.split(r"\s+AND\s+|\s*&&\s*", query.get("where", "")):
            if condition.strip():
                records = [r for r in records if matches(r, condition)]
        since = request.headers.get("If-Modified-Since")
        if since:
            after = datetime.fromisoformat(since).replace(tzinfo=UTC)
            records = [r for r in records
                       if (parse_net_date(r.get("UpdatedDateUTC")) or _EPOCH) > after]
        if query.get("order"):
            name, _, direction = query["order"].partition(" ")
            records.sort(key=lambda r: _sort_key(r, name), reverse=direction.upper() == "DESC")
        body: Obj = {"Id": "b4b7d3e1-2c1a-4c43-9a52-2f5b3f3c9d10", "Status": "OK",
                     "ProviderName": "saasync tests",
                     "DateTimeUTC": net_date(datetime(2026, 11, 21, tzinfo=UTC))}
        if collection in PAGED and "page" in query:
            page, size = int(query["page"]), min(int(query.get("pageSize", 100)), 1000)
            if self.with_pagination:
                body["pagination"] = {"page": page, "pageSize": size,
                                      "pageCount": max(math.ceil(len(records) / size), 1),
                                      "itemCount": len(records)}
            records = records[(page - 1) * size:page * size]
        body[collection] = copy.deepcopy(records)
        return body
