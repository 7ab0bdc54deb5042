"""Read recorded ChartMogul exchanges (VCR and go-vcr cassettes) from ``tests/fixtures``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "chartmogul-recordings"


class _Loader(yaml.SafeLoader):  # type: ignore[misc,name-defined]
    pass


def _binary(loader: Any, node: Any) -> str:
    return base64.b64decode(loader.construct_scalar(node)).decode("utf-8")


_Loader.add_constructor("!binary", _binary)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    request_text: str
    response_text: str

    @property
    def request(self) -> Any:
        return json.loads(self.request_text) if self.request_text else None

    @property
    def response(self) -> Any:
        return json.loads(self.response_text) if self.response_text else None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def response_json(self) -> Any:
        """The response body as JSON, or None when it is empty or not JSON."""
        try:
            return self.response
        except ValueError:
            return None


@cache
def exchanges(name: str) -> tuple[Exchange, ...]:
    return read_cassette(HERE / name)


def read_cassette(path: Path) -> tuple[Exchange, ...]:
    """Every exchange of a VCR (Ruby) or go-vcr (Go) cassette, in order."""
    doc = yaml.load(path.read_text("utf-8"), Loader=_Loader)
    out = []
    for item in doc.get("http_interactions") or doc.get("interactions") or []:
        rq, rs = item["request"], item["response"]
        req_body = rq["body"].get("string") if isinstance(rq.get("body"), dict) else rq.get("body")
        status = rs["status"]["code"] if isinstance(rs.get("status"), dict) else rs.get("code")
        resp_body = rs["body"].get("string") if isinstance(rs.get("body"), dict) else rs.get("body")
        out.append(Exchange(rq["method"].upper(), rq.get("uri") or rq.get("url"), int(status),
                            req_body or "", resp_body or ""))
    return tuple(out)


def find(name: str, method: str, url_part: str, nth: int = 0) -> Exchange:
    """The ``nth`` exchange of ``name`` with that method whose URL contains ``url_part``."""
    hits = [e for e in exchanges(name) if e.method == method and url_part in e.url]
    return hits[nth]
