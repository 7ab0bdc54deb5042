"""Throttling (429, 503) and fault injection: what a ChartMogul client has to survive."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from saasync.server.api_store import ApiStore
from saasync.server.app import ROUTES, App, RawRequest, ServerHandle, make_server
from saasync.server.context import ApiContext
from saasync.server.faults import FaultConfig, FaultInjector
from saasync.server.limits import InFlightGate, SlidingWindow
from saasync.server.routing import route
from tests.server.conftest import KEY, Api


@contextmanager
def serving(path: Path | str = ":memory:", **kwargs: Any) -> Iterator[tuple[ServerHandle, Api]]:
    kwargs.setdefault("rate_limit", 0)
    kwargs.setdefault("max_concurrency", 0)
    with make_server(path, **kwargs) as handle:
        yield handle, Api(handle.url)


# -- limits --------------------------------------------------------------------------------


def test_the_sliding_window_admits_rate_per_second_per_key() -> None:
    now = [100.0]
    window = SlidingWindow(3, clock=lambda: now[0])
    assert [window.admit("k") for _ in range(4)] == [True, True, True, False]
    assert window.admit("other")  # per key
    now[0] += 0.5
    assert not window.admit("k")
    now[0] += 0.51  # the first three left the window
    assert [window.admit("k") for _ in range(4)] == [True, True, True, False]
    slow = SlidingWindow(0.5, clock=lambda: now[0])
    assert slow.admit("k") and not slow.admit("k")
    now[0] += 2.0
    assert slow.admit("k")
    assert all(SlidingWindow(0).admit("k") for _ in range(1000))  # 0 switches it off


def test_the_gate_refuses_the_request_over_the_limit() -> None:
    gate = InFlightGate(2)
    assert gate.enter() and gate.enter() and not gate.enter()
    gate.leave()
    assert gate.enter() and gate.in_flight == 2


def test_requests_above_the_rate_limit_get_429_with_retry_after() -> None:
    with serving(rate_limit=3) as (_, api):
        answers = [api.get("/ping") for _ in range(6)]
    limited = [a for a in answers if a.status_code == 429]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200] and limited
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["code"] == 429 and "rate limit" in limited[0].json()["message"]


def test_a_request_over_the_concurrency_limit_gets_503() -> None:
    slow = FaultConfig(p_slow=1.0, slow_ms=600, seed=1)
    with serving(max_concurrency=1, faults=slow) as (_, api):
        first: list[requests.Response] = []
        worker = threading.Thread(target=lambda: first.append(api.get("/ping")))
        worker.start()
        time.sleep(0.2)  # the first one is in flight (answered in 0.6 s)
        second = api.get("/ping")
        worker.join()
    assert second.status_code == 503 and second.json()["code"] == 503
    assert first[0].status_code == 200


# -- faults --------------------------------------------------------------------------------


def test_decisions_depend_only_on_the_seed_and_the_request_order() -> None:
    config = FaultConfig(p_429=0.2, retry_after_share=0.5, p_5xx=0.2, p_drop=0.1, p_slow=0.1,
                         slow_ms=5, p_5xx_after_commit=0.2, seed=42)  # fmt: skip
    run = [FaultInjector(config).decide() for _ in range(1)]
    one, two = FaultInjector(config), FaultInjector(config)
    first = [one.decide() for _ in range(300)]
    assert first == [two.decide() for _ in range(300)] and first[0] == run[0]
    reseeded = FaultInjector(FaultConfig(**{**config.__dict__, "seed": 43}))
    assert first != [reseeded.decide() for _ in range(300)]
    assert {d.status for d in first} >= {None, 429, 500, 502, 503}
    assert any(d.drop for d in first) and any(d.fail_after_commit for d in first)
    assert {d.retry_after for d in first if d.status == 429} == {True, False}
    with pytest.raises(ValueError):
        FaultConfig(p_5xx=1.5)


def test_the_same_seed_gives_the_same_answers_over_http() -> None:
    config = FaultConfig(p_429=0.25, retry_after_share=0.5, p_5xx=0.25, seed=7)
    runs = []
    for _ in range(2):
        with serving(faults=config) as (_, api):
            answers = [api.get("/ping") for _ in range(40)]
        runs.append([(a.status_code, a.headers.get("Retry-After"), a.text) for a in answers])
    assert runs[0] == runs[1]
    codes = {code for code, _, _ in runs[0]}
    assert {200, 429} <= codes and codes & {500, 502, 503}
    assert {text for code, _, text in runs[0] if code == 500} <= {"500 Internal Server Error"}
    assert {after for code, after, _ in runs[0] if code == 429} == {"1", None}


def test_injected_5xx_and_drops_happen_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with serving(path, faults=FaultConfig(p_5xx=1.0, seed=1)) as (_, api):
        assert api.post("/data_sources", {"name": "x"}).status_code in (500, 502, 503)
    with (
        serving(path, faults=FaultConfig(p_drop=1.0, seed=1)) as (_, api),
        pytest.raises(requests.ConnectionError),
    ):
        api.post("/data_sources", {"name": "x"})
    with serving(path) as (_, api):
        assert api.ok("GET", "/data_sources") == {"data_sources": []}


def test_5xx_after_commit_applies_the_write_so_a_retry_meets_a_duplicate(tmp_path: Path) -> None:
    with serving(tmp_path / "s.db", faults=FaultConfig(p_5xx_after_commit=1.0, seed=3)) as (_, api):
        failed = api.post("/data_sources", {"name": "billing"})
        assert (failed.status_code, failed.text) == (500, "500 Internal Server Error")
        assert [d["name"] for d in api.ok("GET", "/data_sources")["data_sources"]] == ["billing"]
        retry = api.post("/data_sources", {"name": "billing"})
        assert (retry.status_code, retry.json()) == (
            422,
            {"errors": {"name": "Has already been taken."}},
        )


def test_slow_answers_come_late_but_complete() -> None:
    with serving(faults=FaultConfig(p_slow=1.0, slow_ms=250, seed=1)) as (_, api):
        started = time.monotonic()
        assert api.get("/ping").status_code == 200
        assert time.monotonic() - started >= 0.25


def test_unauthenticated_requests_draw_no_faults() -> None:
    with serving(faults=FaultConfig(p_5xx=1.0, seed=1)) as (handle, _):
        anonymous = requests.get(handle.url + "/ping", auth=("nope", ""), timeout=5)
        assert anonymous.status_code == 401
        assert requests.get(handle.url + "/ping", auth=(KEY, ""), timeout=5).status_code >= 500


def test_the_pipeline_without_sockets_auth_then_rate_then_handler() -> None:
    now = [0.0]
    boom = route("GET", "/v1/boom", lambda ctx, request, params: 1 // 0)  # type: ignore[arg-type, return-value]
    app = App(ApiContext(ApiStore()), api_key="k", rate_limit=2, max_concurrency=0,
              faults=FaultConfig(), routes=[*ROUTES, boom], clock=lambda: now[0])  # fmt: skip
    auth = {"Authorization": "Basic " + base64.b64encode(b"k:any").decode()}
    crashed = app.handle(RawRequest("GET", "/v1/boom", auth))
    assert crashed is not None and crashed.status == 500
    assert "ZeroDivisionError" in crashed.body["message"]  # an emulator bug is not a fault page
    answer = app.handle(RawRequest("GET", "/v1/ping", auth))
    assert answer is not None and answer.status == 200
    assert [app.handle(RawRequest("GET", "/v1/ping", h)).status for h in (auth, {})] == [429, 401]  # type: ignore[union-attr]
    now[0] += 1.0
    assert app.handle(RawRequest("GET", "/v1/ping/", auth)).status == 200  # type: ignore[union-attr]
