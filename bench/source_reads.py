"""Source reads at the source's limit (issue #18 target 1): Stripe, Chargebee and Recurly
read from their local fakes, each with a page latency and the vendor's request limit
(429 above it), by the connector with its default pace and concurrency.

For each connector it prints the requests a second achieved against the limit (target:
85 % or more), how many requests the fake throttled (429), and whether the records equal
those of a read one list at a time (same records, same order). Stripe's limit is per
second (25 a second for a test key) and is used as is. Chargebee's and Recurly's limits
are per minute; measuring them as such takes minutes, so their minute is scaled down by
``--scale`` (10: 1000 a minute becomes 100 every 6 s, the same rate), for the fake's
window and the connector's pace alike.

    python bench/source_reads.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from saasync.connector import ConnectorContext, ReadWindow
from saasync.http import SlidingWindowLimiter
from saasync.kit.api import Pacing
from saasync_connectors.chargebee.connector import ChargebeeConnector, ChargebeeOptions
from saasync_connectors.chargebee.connector import api_spec as chargebee_spec
from saasync_connectors.recurly.connector import RecurlyConnector, RecurlySettings
from saasync_connectors.recurly.connector import api_spec as recurly_spec
from saasync_connectors.stripe.connector import StripeConnector
from tests.connectors.chargebee.fake_api import FakeChargebee
from tests.connectors.contract.chargebee_harness import load_site as chargebee_site
from tests.connectors.recurly.fake_api import KEY as RECURLY_KEY
from tests.connectors.recurly.fake_api import FakeRecurly
from tests.connectors.recurly.fake_api import load_site as recurly_site
from tests.connectors.source_limits import SourceLimits
from tests.connectors.stripe.fake_api import KEY as STRIPE_KEY
from tests.connectors.stripe.fake_api import FakeStripe, load_dataset

Obj = dict[str, Any]
SPREAD = timedelta(days=730)  # clones go back two years from the fixtures' dates


@dataclass(frozen=True)
class Settings:
    copies: int  # how many times each fixture customer, subscription and invoice is cloned
    latency: float  # seconds a page takes
    scale: int  # per-minute limits: the minute divided by this (the rate is kept)
    page_size: int


FULL = Settings(copies=60, latency=0.3, scale=10, page_size=20)
QUICK = Settings(copies=4, latency=0.02, scale=50, page_size=5)


def clone(objects: list[Obj], copies: int, stamp: Callable[[Obj, int], None]) -> list[Obj]:
    """The objects plus ``copies - 1`` clones of each, ids suffixed, ``stamp`` moving
    each clone's dates back in time."""
    out = list(objects)
    for k in range(1, copies):
        for obj in objects:
            twin = copy.deepcopy(obj)
            twin["id"] = f"{obj['id']}x{k}"
            stamp(twin, k)
            out.append(twin)
    return out


def shift_ints(*fields: str, copies: int) -> Callable[[Obj, int], None]:
    step = int(SPREAD.total_seconds()) // max(1, copies)

    def stamp(obj: Obj, k: int) -> None:
        for name in fields:
            if isinstance(obj.get(name), int):
                obj[name] -= k * step
    return stamp


def shift_iso(*fields: str, copies: int) -> Callable[[Obj, int], None]:
    step = SPREAD / max(1, copies)

    def stamp(obj: Obj, k: int) -> None:
        for name in fields:
            if isinstance(obj.get(name), str):
                moment = datetime.fromisoformat(obj[name]) - step * k
                obj[name] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return stamp


@dataclass
class Source:
    """A fake with its data, and how to build a connector on it."""

    name: str
    fake: Any
    connect: Callable[[int | None, Any], Any]  # (concurrency, limiter) -> connector
    limit: int
    per: float
    pace: str
    pacing: Pacing | None = None  # a per-minute pace, to be scaled as the limit is


@contextmanager
def stripe_source(s: Settings, workdir: Path) -> Iterator[Source]:
    data = load_dataset()
    n = s.copies
    for kind in ("customers", "subscriptions", "invoices"):
        data[kind] = clone(data[kind], n, shift_ints("created", copies=n))
    with FakeStripe(data) as fake:
        def connect(concurrency: int | None, limiter: Any) -> StripeConnector:
            options: Obj = {"base_url": fake.base_url, "page_size": s.page_size}
            if concurrency is not None:
                options["concurrency"] = concurrency
            return StripeConnector(options, ConnectorContext(
                base_dir=workdir, env={"STRIPE_API_KEY": STRIPE_KEY}),
                clock=lambda: fake.now_dt, limiter=limiter)
        yield Source("stripe", fake, connect, 25, 1.0, "default (test key: 25 per 1.05 s)")


def scaled(rate: int, per: float, scale: int) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(max(1, rate // scale), per / scale, max_concurrent=None)


@contextmanager
def chargebee_source(s: Settings, workdir: Path) -> Iterator[Source]:
    data = chargebee_site()
    n = s.copies
    stamp = shift_ints("created_at", "updated_at", "date", copies=n)
    for kind in ("customers", "subscriptions", "invoices"):
        data[kind] = clone(data[kind], n, stamp)
    options: Obj = {"api_key_env": "CB_KEY", "requests_per_minute": 1000,
                    "page_size": s.page_size}
    with FakeChargebee(data, "bench_cb_key").running() as fake:
        def connect(concurrency: int | None, limiter: Any) -> ChargebeeConnector:
            more = {"concurrency": concurrency} if concurrency is not None else {}
            return ChargebeeConnector({**options, "base_url": fake.base_url, **more},
                                      ConnectorContext(base_dir=workdir,
                                                       env={"CB_KEY": fake.api_key}),
                                      limiter=limiter)
        pace = chargebee_spec(ChargebeeOptions.parse({**options, "base_url": "http://x"})).pacing
        assert pace is not None
        yield Source("chargebee", fake, connect, 1000 // s.scale, 60.0 / s.scale,
                     f"requests_per_minute {pace.rate} (Performance plan), minute / {s.scale}",
                     pace)


@contextmanager
def recurly_source(s: Settings, workdir: Path) -> Iterator[Source]:
    site = recurly_site()
    n = s.copies
    stamp = shift_iso("created_at", "updated_at", copies=n)
    for kind in ("accounts", "subscriptions"):
        site[kind] = clone(site[kind], n, stamp)
    charges = [i for i in site["invoices"] if i.get("type") != "credit"]
    credits = [i for i in site["invoices"] if i.get("type") == "credit"]
    site["invoices"] = clone(charges, n, stamp) + credits
    with FakeRecurly(site, embedded_line_items=1) as fake:
        def connect(concurrency: int | None, limiter: Any) -> RecurlyConnector:
            more = {"concurrency": concurrency} if concurrency is not None else {}
            return RecurlyConnector({"base_url": fake.base_url, "api_key_env": "RK",
                                     "page_size": s.page_size, **more},
                                    ConnectorContext(base_dir=workdir, env={"RK": RECURLY_KEY}),
                                    limiter=limiter)
        pace = recurly_spec(RecurlySettings.parse({})).pacing
        assert pace is not None
        yield Source("recurly", fake, connect, 1000 // s.scale, 60.0 / s.scale,
                     f"requests_per_minute {pace.rate} (default), minute / {s.scale}", pace)


def measure(make: Callable[[Settings, Path], AbstractContextManager[Source]], s: Settings,
            workdir: Path) -> dict[str, Any]:
    with make(s, workdir) as src:
        src.fake.limits = None  # the reference: one list at a time, no latency, no limit
        reference = list(src.connect(1, None).read(ReadWindow()))
        limits = SourceLimits(latency=s.latency, limit=src.limit, per=src.per)
        src.fake.limits = limits
        limiter = None  # Stripe: the connector's own pace
        if src.pacing is not None:  # per-minute limits: the same minute, scaled, for the pace
            limiter = scaled(src.pacing.rate, src.pacing.per, s.scale)
        connector = src.connect(None, limiter)
        started = time.perf_counter()
        records = list(connector.read(ReadWindow()))
        seconds = time.perf_counter() - started
        limit_rate = src.limit / src.per
        achieved = limits.rate()
        return {
            "pace": src.pace,
            "limit_per_second": round(limit_rate, 2),
            "achieved_per_second": round(achieved, 2),
            "ratio": round(achieved / limit_rate, 3),
            "requests": limits.answered,
            "throttled_429": limits.throttled,
            "most_in_flight": limits.most_in_flight,
            "concurrency": connector.concurrency,
            "records": len(records),
            "equal_to_sequential": records == reference,
            "seconds": round(seconds, 2),
            "latency_s": s.latency,
        }


SOURCES = {"stripe": stripe_source, "chargebee": chargebee_source, "recurly": recurly_source}


def figures(workdir: Path, quick: bool) -> dict[str, Any]:
    """Per connector: achieved requests a second against the limit, 429s, equality."""
    settings = QUICK if quick else FULL
    workdir.mkdir(parents=True, exist_ok=True)
    return {name: measure(make, settings, workdir) for name, make in SOURCES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small data, low latency")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="where connectors may write (temporary)")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        found = figures(args.workdir or Path(tmp), args.quick)
    print(f"{'source':10} {'limit/s':>8} {'achieved/s':>10} {'ratio':>6} {'requests':>8} "
          f"{'429s':>5} {'in flight':>9} {'records':>7} {'same as one list':>16} {'s':>6}")
    for name, f in found.items():
        print(f"{name:10} {f['limit_per_second']:8} {f['achieved_per_second']:10} "
              f"{f['ratio']:6.0%} {f['requests']:8} {f['throttled_429']:5} "
              f"{f['most_in_flight']:9} {f['records']:7} {f['equal_to_sequential']!s:>16} "
              f"{f['seconds']:6}")
        print(f"{'':10} pace: {f['pace']}; concurrency {f['concurrency']}, page latency "
              f"{f['latency_s']} s")
    if args.json:
        args.json.write_text(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
