"""Benchmark: push N customers × 12 monthly invoices to `saasync serve` in each import mode.

A first sync (no cursor yet) into an empty account, as `saasync sync` would run it: the
import mode goes through the composition root (``saasync.runner.import_choice``), so
``auto`` (the default) shows what it chooses. Prints, per mode: the mode the run used,
requests, requests per 1,000 invoices, invoices per second, the sustained request rate
against the server's limit, 429s seen after the first second, and the wall time.

    python bench/push.py --customers 200 --rate-limit 40
    python bench/push.py --customers 2000 --modes auto,per_customer
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import requests
import structlog
from dateutil.relativedelta import relativedelta

from saasync.connector import ReadWindow
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.engine import Engine
from saasync.logs import configure_logging
from saasync.models import Customer, Invoice, LineItem, Plan, SourceRecord, Transaction
from saasync.rules.builder import RuleSettings
from saasync.runner import import_choice, import_sink, show_choice
from saasync.server.app import make_server
from saasync.settings import ConnectionSettings, DestinationSettings
from saasync.state import StateStore

START = datetime(2025, 1, 1, tzinfo=UTC)


class Generated:
    """N customers, each with one monthly subscription billed and paid 12 times."""

    name = "generated"

    def __init__(self, customers: int) -> None:
        self.customers = customers

    def read(self, window: ReadWindow) -> Iterator[SourceRecord]:
        yield Plan(external_id="pl_growth", name="Growth", interval_unit="month", interval_count=1)
        for n in range(self.customers):
            cid = f"cus_{n:06d}"
            yield Customer(external_id=cid, name=f"Customer {n}", email=f"c{n}@example.com")
            for m in range(12):
                start = START + relativedelta(months=m)
                line = LineItem(kind="subscription", subscription_external_id=f"sub_{n:06d}",
                                plan_external_id="pl_growth", service_period_start=start,
                                service_period_end=start + relativedelta(months=1), amount=10000)
                yield Invoice(external_id=f"inv_{n:06d}_{m:02d}", customer_external_id=cid,
                              issued_at=start, currency="USD", status="paid", lines=(line,),
                              transactions=(Transaction(type="payment", result="successful", date=start),))


class Counter:
    """Counts every HTTP request the client sends, and the 429s, with their times."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.throttled: list[float] = []
        self._send = requests.Session.send

    def __enter__(self) -> Self:
        counter = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kw: object) -> requests.Response:
            response = counter._send(session, request, **kw)  # type: ignore[arg-type]
            now = time.monotonic()
            counter.sent.append(now)
            if response.status_code == 429:
                counter.throttled.append(now)
            return response

        requests.Session.send = send  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        requests.Session.send = self._send  # type: ignore[method-assign]


def run(mode: str, customers: int, rate_limit: float, client_rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, make_server(
        Path(tmp) / "account.db", api_key="bench", rate_limit=rate_limit, max_concurrency=20
    ) as server, StateStore(Path(tmp) / "state.db") as state:
        settings = DestinationSettings(type="chartmogul", base_url=server.url, api_key_env="K", data_source="bench",
                                       import_mode=mode, requests_per_second=client_rate)  # type: ignore[arg-type]
        conn = ConnectionSettings(connector="generated", destination=settings)
        with ChartMogulDestination(settings, {"K": "bench"}) as destination, Counter() as counter:
            started = time.monotonic()
            choice = import_choice(conn, "sync", state.get_cursor("bench"))
            bulk = import_sink("bench", conn, destination, choice)
            engine = Engine("bench", Generated(customers), state, destination, rules=RuleSettings(),
                            data_source="bench", bulk=bulk)
            report = engine.run("sync")
            show_choice(report, choice)
            elapsed = time.monotonic() - started
        assert report.status == "ok", report.failed_ops[:3]
        invoices = customers * 12
        first = counter.sent[0] if counter.sent else started
        return {
            "import_mode": report.import_mode or mode,
            "invoices": invoices,
            "requests": len(counter.sent),
            "requests_per_1000_invoices": 1000 * len(counter.sent) / invoices,
            "invoices_per_s": invoices / elapsed,
            "requests_per_s": len(counter.sent) / elapsed,
            "limit_used_pct": 100 * len(counter.sent) / elapsed / rate_limit if rate_limit else 0.0,
            "429_after_first_second": sum(1 for t in counter.throttled if t - first > 1.0),
            "seconds": elapsed,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rate-limit", type=float, default=40.0, help="the server's requests/s limit")
    parser.add_argument("--client-rate", type=float, default=None,
                        help="the client's own pacing (default: 95 %% of the server's limit)")
    parser.add_argument("--modes", default="per_customer,bulk",
                        help="import modes to run, comma-separated (auto, per_customer, bulk)")
    args = parser.parse_args()
    configure_logging(json_logs=False)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    client_rate = args.client_rate or (0.95 * args.rate_limit if args.rate_limit else 5000.0)
    print(f"{args.customers} customers x 12 invoices, server limit {args.rate_limit:g} req/s, "
          f"client pacing {client_rate:g} req/s")
    print(f"{'mode':<13}{'used':<13}{'requests':>9}{'req/1k inv':>12}{'inv/s':>9}{'req/s':>8}"
          f"{'% of limit':>12}{'429 after 1s':>14}{'seconds':>9}")
    for mode in args.modes.split(","):
        r = run(mode.strip(), args.customers, args.rate_limit, client_rate)
        print(f"{mode:<13}{r['import_mode']:<13}{r['requests']:>9.0f}{r['requests_per_1000_invoices']:>12.1f}"
              f"{r['invoices_per_s']:>9.1f}{r['requests_per_s']:>8.1f}{r['limit_used_pct']:>11.1f}%"
              f"{r['429_after_first_second']:>14.0f}{r['seconds']:>9.1f}")


if __name__ == "__main__":
    main()
