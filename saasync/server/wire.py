"""The emulated API's wire format: requests, responses, error shapes, cursors, times, fields.

Error bodies follow what ChartMogul really sends (docs/chartmogul.md): the legacy
``{"error": "… not found"}`` for unknown resources, ``{"errors": {field: message}}`` for
validation (messages are strings, as the official Go client parses them), and
``{"code", "message", "param"}`` for authentication, throttling and bad parameters.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saasync.destinations.local.schema import api_time
from saasync.models import to_utc
from saasync.server.api_sql import Page

MAX_PER_PAGE = 200  # ChartMogul's default and maximum (§1.8)


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: Any = None  # parsed JSON; None when the request had no body
    size: int = 0  # body length in bytes

    def param(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value not in (None, "") else None

    def flag(self, name: str) -> bool:
        return (self.query.get(name) or "").lower() in ("1", "true", "yes")

    def json_object(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError.bad_param(None, "The request body must be a JSON object")
        return self.body


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any = None  # JSON-ready; ignored when ``text`` is set
    text: str | None = None  # a text/plain body (ChartMogul's 5xx pages)
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str | None]:
        """The body bytes and their content type (None for an empty body)."""
        if self.text is not None:
            return self.text.encode("utf-8"), "text/plain; charset=utf-8"
        if self.body is None:
            return b"", None
        payload = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        return payload.encode("utf-8"), "application/json; charset=utf-8"


class ApiError(Exception):
    """An error answer; handlers raise it, the dispatcher turns it into the response."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.response = ApiResponse(status, body, headers=dict(headers or {}))

    @classmethod
    def not_found(cls, what: str) -> ApiError:
        return cls(404, {"error": f"{what} not found"})

    @classmethod
    def invalid(cls, errors: Mapping[str, str], status: int = 422) -> ApiError:
        return cls(status, {"errors": dict(errors)})

    @classmethod
    def bad_param(cls, param: str | None, message: str) -> ApiError:
        return cls(400, {"code": 400, "message": message, "param": param})


def coded(status: int, message: str, headers: Mapping[str, str] | None = None) -> ApiResponse:
    """The ``{"code","message","param"}`` shape of 401/429/503 answers."""
    return ApiResponse(
        status, {"code": status, "message": message, "param": None}, headers=dict(headers or {})
    )


# -- cursors and pages ---------------------------------------------------------------------


def encode_cursor(kind: str, after_id: int) -> str:
    """Opaque to clients (base64, like ChartMogul's); names the list it belongs to."""
    return base64.b64encode(f"{kind}&{after_id}".encode()).decode()


def page_params(request: ApiRequest, kind: str) -> tuple[int | None, int]:
    """(after_id, per_page) from ``cursor`` and ``per_page``; the deprecated ``page`` is refused."""
    if request.param("page") is not None:
        raise ApiError.bad_param("page", 'Parameter "page" is deprecated')
    per_page = MAX_PER_PAGE
    if (text := request.param("per_page")) is not None:
        if not text.isdigit() or int(text) < 1:
            raise ApiError.bad_param("per_page", 'Parameter "per_page" must be a positive integer')
        per_page = min(int(text), MAX_PER_PAGE)
    cursor = request.param("cursor")
    if cursor is None:
        return None, per_page
    try:
        name, _, after = base64.b64decode(cursor, validate=True).decode().partition("&")
        if name != kind or not after.isdigit():
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError.bad_param("cursor", 'Parameter "cursor" is invalid') from None
    return int(after), per_page


def page_fields(page: Page[Any], kind: str, per_page: int, last_id: int | None) -> dict[str, Any]:
    """ChartMogul's paging keys. The cursor is set whenever the page has rows, even the
    last one (as observed): clients must stop on ``has_more``, not on a null cursor."""
    return {
        "has_more": page.has_more,
        "cursor": encode_cursor(kind, last_id) if last_id is not None else None,
        "per_page": per_page,
        "page": 1,
        "current_page": 1,
        "total_pages": -(-page.total // per_page),
    }


# -- times ---------------------------------------------------------------------------------


def offset_time(value: datetime | None) -> str | None:
    """The ``+00:00`` form ChartMogul uses for ``customer-since`` and subscription dates."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00") if value is not None else None


def format_time(value: datetime | None) -> str | None:
    return api_time(value)


# -- request fields ------------------------------------------------------------------------


class Fields:
    """Reads a JSON object's fields, collecting a validation error per bad field."""

    def __init__(self, body: Mapping[str, Any], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: dict[str, str] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(f"{self.prefix}{name}", message)

    def has(self, name: str) -> bool:
        return name in self.body

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, "can't be blank")
            return None if value is None else ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(name, "must be a string")
            return None
        return str(value).strip()

    def integer(self, name: str, *, required: bool = False, default: int | None = None,
                minimum: int | None = None) -> int | None:  # fmt: skip
        value = self.body.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, "can't be blank")
            return default
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(name, "is not a number")
            return default
        if minimum is not None and value < minimum:
            self.fail(name, f"must be greater than or equal to {minimum}")
            return default
        return value

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.body.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, "can't be blank")
            return None
        try:
            parsed = to_utc(value)
        except (ValueError, OverflowError):
            parsed = None
        if not isinstance(parsed, datetime):
            self.fail(name, "is not a valid date")
            return None
        return parsed

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.body.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.fail(name, "must be true or false")
        return default

    def choice(self, name: str, options: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value and value not in options:
            self.fail(name, "is not included in the list")
            return None
        return value or None

    def check(self) -> None:
        if self.errors:
            raise ApiError.invalid(self.errors)


def problem_to_errors(problem: str) -> dict[str, str]:
    """The local store's ``field: message`` problems in ChartMogul's ``errors`` shape."""
    name, sep, message = problem.partition(": ")
    return {name: message} if sep and " " not in name else {"base": problem}
