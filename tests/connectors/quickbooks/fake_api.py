"""A local fake of the QuickBooks Online Accounting API (v3) and Intuit's token endpoint.

It behaves like QBO where the connector depends on it:

- ``GET /v3/company/{realm}/query?query=…&minorversion=…`` runs the query language's
  subset the connector uses: ``select * from <Entity> [where a op v [and …]] [orderby
  f [asc|desc]] [startposition n] [maxresults m]`` with ``=, <, >, <=, >=, in``;
  startposition is 1-based, maxresults defaults to 100 and is capped at 1000;
  ``Customer`` hides inactive customers unless the query names ``Active``;
- the answer is ``{"QueryResponse": {<Entity>: [...], "startPosition", "maxResults"},
  "time"}``, with the entity key left out when nothing matched;
- Bearer auth with tokens from :class:`FakeOAuth` (401 ``AuthenticationFailed`` fault
  otherwise), and ``POST /oauth2/v1/tokens/bearer`` rotating refresh tokens.

Switches inject faults into the next data requests: ``throttle`` (429 ThrottleExceeded
fault 003001), ``fail`` (503) and ``malformed`` (an HTML page).
"""

from __future__ import annotations

import copy
import json
import operator
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.connectors.accounting.fake_server import FakeOAuth, FakeServer, Reply, Request

COMPANY = Path(__file__).parent / "fixtures" / "company.json"
REALM = "9130355377395146"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
Obj = dict[str, Any]

_QUERY = re.compile(
    r"^\s*select\s+\*\s+from\s+(\w+)(?:\s+where\s+(.*?))?(?:\s+orderby\s+([\w.]+)"
    r"(?:\s+(asc|desc))?)?(?:\s+startposition\s+(\d+))?(?:\s+maxresults\s+(\d+))?\s*$",
    re.IGNORECASE | re.DOTALL)
_OPERATORS = {"=": operator.eq, "<": operator.lt, ">": operator.gt, "<=": operator.le,
              ">=": operator.ge}
_CONDITION = re.compile(r"^([\w.]+)\s*(>=|<=|=|<|>|\bin\b)\s*(.+)$", re.IGNORECASE | re.DOTALL)


def load_company() -> dict[str, list[Obj]]:
    data: dict[str, list[Obj]] = json.loads(COMPANY.read_text(encoding="utf-8"))
    return data


def fault(kind: str, message: str, detail: str, code: str) -> Obj:
    return {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}],
                      "type": kind}, "time": "2026-11-21T08:00:00.000-08:00"}


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return [_literal(part) for part in re.split(r"\s*,\s*", text[1:-1].strip())]
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and "T" in value and re.match(r"\d{4}-\d{2}-\d{2}T", value):
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


def _field(record: Obj, path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def matches(record: Obj, condition: str) -> bool:
    found = _CONDITION.match(condition.strip())
    if found is None:
        raise ValueError(f"QueryParserError: cannot parse condition {condition!r}")
    path, op, raw = found.group(1), found.group(2).lower(), _literal(found.group(3))
    value = _comparable(_field(record, path))
    if op == "in":
        return value in [_comparable(v) for v in raw]
    other = _comparable(raw)
    if value is None:
        return False
    return bool(_OPERATORS[op](value, other))


def _sort_key(record: Obj, path: str) -> Any:
    value = _field(record, path)
    return (0, int(value), "") if isinstance(value, str) and value.isdigit() else (1, 0, str(value))


class FakeQuickBooks(FakeServer):
    """Serve ``company`` for realm ``REALM`` until the context exits."""

    def __init__(self, company: dict[str, list[Obj]] | None = None, *, realm: str = REALM,
                 oauth: FakeOAuth | None = None) -> None:
        super().__init__()
        self.data = copy.deepcopy(company if company is not None else load_company())
        self.realm = realm
        self.oauth = oauth if oauth is not None else FakeOAuth()
        self.throttle = 0
        self.fail = 0
        self.malformed = 0
        self.queries: list[str] = []

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self.oauth.token(request)
        if request.path != f"/v3/company/{self.realm}/query" or request.method != "GET":
            return Reply(404, fault("ValidationFault", "Unsupported Operation",
                                    f"Operation {request.path} is not supported.", "500"))
        if not self.oauth.authorized(request):
            return Reply(401, fault("AUTHENTICATION", "message=AuthenticationFailed; "
                                    "errorCode=003200; statusCode=401", "Token expired", "3200"))
        if self.throttle:
            self.throttle -= 1
            return Reply(429, fault("SERVICE", "message=ThrottleExceeded; errorCode=003001; "
                                    "statusCode=429", "The request limit was reached.", "3001"))
        if self.fail:
            self.fail -= 1
            return Reply(503, "<html><body>Service Unavailable</body></html>")
        if self.malformed:
            self.malformed -= 1
            return Reply(200, "<html><body>Intuit maintenance</body></html>")
        statement = request.query.get("query", "")
        self.queries.append(statement)
        try:
            return Reply(200, self.run(statement))
        except ValueError as exc:
            return Reply(400, fault("ValidationFault", "Error parsing query",
                                    f"QueryParserError: {exc}", "4000"))

    def run(self, statement: str) -> Obj:
        found = _QUERY.match(statement)
        if found is None:
            raise ValueError(f"Encountered unexpected text in {statement!r}")
        entity, where, order, direction, start, size = found.groups()
        conditions = re.split(r"\s+and\s+", where, flags=re.IGNORECASE) if where else []
        if entity == "Customer" and not any(c.strip().lower().startswith("active")
                                            for c in conditions):
            conditions.append("Active = true")  # QBO hides inactive customers by default
        records = [r for r in self.data.get(entity, []) if all(matches(r, c) for c in conditions)]
        if order:
            records.sort(key=lambda r: _sort_key(r, order),
                         reverse=(direction or "").lower() == "desc")
        first = int(start or 1)
        limit = min(int(size or 100), 1000)
        page = copy.deepcopy(records[first - 1:first - 1 + limit])
        response: Obj = {"startPosition": first, "maxResults": len(page)}
        if page:
            response[entity] = page
        return {"QueryResponse": response, "time": "2026-11-21T08:00:00.000-08:00"}
