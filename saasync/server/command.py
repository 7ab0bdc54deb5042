"""``saasync serve``: run the ChartMogul-compatible server in the foreground (wiring only)."""

from __future__ import annotations

import ipaddress
import sys
from datetime import timedelta

import click

from saasync.fx import RatesFileError, load_rates, sample_rates
from saasync.money import is_known_currency
from saasync.server.app import make_server
from saasync.server.context import Account
from saasync.server.faults import FaultConfig

DEFAULT_KEY = "test-key"
_P = click.FloatRange(0.0, 1.0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the URL is printed).",
)
@click.option(
    "--db",
    default=":memory:",
    show_default=True,
    help="Local store file to serve (created if missing); :memory: forgets on exit.",
)
@click.option(
    "--api-key",
    envvar="SAASYNC_SERVE_API_KEY",
    default=DEFAULT_KEY,
    show_default=True,
    help="The one API key accepted (HTTP Basic user name). Also read from SAASYNC_SERVE_API_KEY.",
)
@click.option(
    "--rate-limit",
    default=40.0,
    show_default=True,
    type=float,
    help="Requests per second per API key before 429; 0 switches it off.",
)
@click.option(
    "--max-concurrency",
    default=20,
    show_default=True,
    type=int,
    help="Requests in flight before 503; 0 switches it off.",
)
@click.option("--fault-429", default=0.0, type=_P, help="Share of requests answered 429.")
@click.option(
    "--fault-429-retry-after",
    default=0.0,
    type=_P,
    is_flag=False,
    flag_value=1.0,
    help="Share of injected 429s that carry Retry-After: 1 (alone: all of them).",
)
@click.option(
    "--fault-5xx",
    default=0.0,
    type=_P,
    help="Share of requests answered 500/502/503 before anything is written.",
)
@click.option(
    "--fault-5xx-after-commit",
    default=0.0,
    type=_P,
    help="Share of writes applied and then answered 500 (proves idempotency).",
)
@click.option(
    "--fault-drop",
    default=0.0,
    type=_P,
    help="Share of connections closed without a response (nothing written).",
)
@click.option("--fault-slow", default=0.0, type=_P, help="Share of requests answered late.")
@click.option(
    "--slow-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Delay of a slow answer.",
)
@click.option("--seed", default=None, type=int, help="Seed of the fault sequence (repeatable).")
@click.option(
    "--currency",
    default="USD",
    show_default=True,
    help="Account currency: metrics are reported in it, each amount converted at its day's "
    "rate from --fx-rates.",
)
@click.option(
    "--fx-rates",
    "fx_rates",
    default=None,
    type=click.Path(dir_okay=False),
    help="Dated exchange rates: CSV with the header date,currency,rate or JSON "
    '{"base": ..., "rates": {DATE: {CODE: RATE}}}; a day uses the latest rate on or before '
    "it, and a missing rate answers 422. Default: the bundled SAMPLE rates for USD, EUR "
    "and JPY (made-up round numbers, not market data).",
)
@click.option(
    "--grace-days",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Days a subscription may run past its paid period before it is past due.",
)
def serve(host: str, port: int, db: str, api_key: str, rate_limit: float, max_concurrency: int,
          fault_429: float, fault_429_retry_after: float, fault_5xx: float,
          fault_5xx_after_commit: float, fault_drop: float, fault_slow: float, slow_ms: int,
          seed: int | None, currency: str, fx_rates: str | None,
          grace_days: int) -> int:  # fmt: skip
    """Serve a ChartMogul-compatible API (v1) from a local store, for tests and rehearsals.

    Faults are drawn per request from one seeded generator: the same --seed and request
    order give the same faults. 429, 5xx and dropped connections happen before anything
    is written, so retrying them is safe; --fault-5xx-after-commit writes first and then
    fails, so a client must prove that its retries are idempotent.
    """
    if not api_key.strip():
        raise click.BadParameter("must not be empty: every request needs this key",
                                 param_hint="'--api-key' / SAASYNC_SERVE_API_KEY")
    faults = FaultConfig(
        p_429=fault_429, retry_after_share=fault_429_retry_after, p_5xx=fault_5xx,
        p_drop=fault_drop, p_slow=fault_slow, slow_ms=slow_ms,
        p_5xx_after_commit=fault_5xx_after_commit, seed=seed,
    )  # fmt: skip
    if not is_known_currency(currency):
        raise click.BadParameter(f"{currency!r} is not an ISO 4217 currency code",
                                 param_hint="--currency")  # fmt: skip
    try:
        rates = load_rates(fx_rates) if fx_rates is not None else sample_rates()
    except RatesFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--fx-rates") from None
    handle = make_server(
        db, host=host, port=port, api_key=api_key, rate_limit=rate_limit,
        max_concurrency=max_concurrency, faults=faults,
        account=Account(currency=currency.upper()), grace=timedelta(days=grace_days),
        fx_rates=rates,
    )  # fmt: skip
    click.echo(handle.url)
    key = api_key if api_key == DEFAULT_KEY else "(from --api-key / SAASYNC_SERVE_API_KEY)"
    click.echo(f"  API key {key} as the HTTP Basic user name · store {db}", err=True)
    click.echo(
        f"  limits: {rate_limit:g} requests/s per key, {max_concurrency} in flight", err=True
    )
    click.echo(f"  metrics in {currency.upper()} at the rates of {rates.label}", err=True)
    if faults.enabled:
        click.echo(f"  faults: {faults}", err=True)
    if api_key == DEFAULT_KEY and not is_loopback(host):
        click.echo(
            f"  warning: listening on {host}, beyond this machine, with the default API key "
            f"{DEFAULT_KEY!r}: anyone who can reach the port can read and change the store. "
            "Set --api-key (or SAASYNC_SERVE_API_KEY) to a secret.",
            err=True,
        )
    click.echo("  Ctrl-C stops the server.", err=True)
    sys.stdout.flush()
    handle.serve_forever()
    return 0


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost (and the rest of 127/8): reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
