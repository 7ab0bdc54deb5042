"""Metrics in the account currency: every amount converted at its day's rate, never summed
across currencies at face value; a missing rate is a 422, not a wrong number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from saasync.fx import RateTable, parse_rates
from saasync.server import command
from saasync.server.app import ServerHandle, make_server
from saasync.server.command import serve
from saasync.server.context import Account
from tests.server.conftest import NOW, Api, monthly_invoice

WINDOW = {"start-date": "2024-01-01", "end-date": "2024-02-29", "interval": "month"}
# 1 USD buys 0.90 EUR in January and 0.80 EUR from February; 1 USD buys 150 yen throughout.
RATES = """date,currency,rate
2024-01-01,USD,1
2024-01-01,EUR,0.90
2024-01-01,JPY,150
2024-02-01,EUR,0.80
"""


def _server(tmp_path: Path, rates: RateTable, currency: str = "USD") -> ServerHandle:
    return make_server(
        tmp_path / "fx.db", rate_limit=0, max_concurrency=0, clock=lambda: NOW,
        account=Account(currency=currency), fx_rates=rates,
    )  # fmt: skip


@pytest.fixture
def three_currencies(tmp_path: Path) -> Iterator[Api]:
    """USD 100.00, EUR 90.00 and JPY 15,000 a month, each from January."""
    with _server(tmp_path, parse_rates(RATES, "test.csv")) as handle:
        api = Api(handle.url)
        ds = api.data_source()
        plan = api.plan(ds)
        for cid, currency, amount in (("us", "USD", 10000), ("eu", "EUR", 9000),
                                      ("jp", "JPY", 15000)):  # fmt: skip
            customer = api.customer(ds, cid)
            for i, (start, end) in enumerate((("2024-01-01", "2024-02-01"),
                                              ("2024-02-01", "2024-03-01"))):  # fmt: skip
                inv = monthly_invoice(f"{cid}-{i}", plan, start, end, amount, currency=currency)
                api.invoice(customer, inv)
        yield api


def test_serve_converts_each_currency_at_the_days_rate(three_currencies: Api) -> None:
    body = three_currencies.ok("GET", "/metrics/mrr", params=WINDOW)
    jan, feb = body["entries"]
    # January: 100.00 + 90.00 EUR / 0.90 + 15,000 yen / 150 = 300.00 USD
    assert jan["mrr"] == 30000 and jan["mrr-new-business"] == 30000
    # February: the euro is worth more: 90.00 / 0.80 = 112.50 USD
    assert feb["mrr"] == 10000 + 11250 + 10000
    arpa = three_currencies.ok("GET", "/metrics/arpa", params=WINDOW)
    assert [e["arpa"] for e in arpa["entries"]] == [10000, round(31250 / 3)]


def test_serve_reports_in_a_zero_decimal_account_currency(tmp_path: Path) -> None:
    with _server(tmp_path, parse_rates(RATES, "test.csv"), currency="JPY") as handle:
        api = Api(handle.url)
        ds = api.data_source()
        customer = api.customer(ds, "us")
        api.invoice(customer, monthly_invoice("i", api.plan(ds), "2024-01-01", "2024-02-01", 1234))
        entries = api.ok("GET", "/metrics/mrr", params={**WINDOW, "end-date": "2024-01-31"})
    # 12.34 USD × 150 = 1,851 yen (JPY has no minor unit: 1851, not 185100)
    assert entries["entries"][0]["mrr"] == 1851


def test_serve_refuses_missing_fx_rate_with_422(tmp_path: Path) -> None:
    no_yen = parse_rates("date,currency,rate\n2024-01-01,USD,1\n2024-01-01,EUR,0.9\n", "x.csv")
    with _server(tmp_path, no_yen) as handle:
        api = Api(handle.url)
        ds = api.data_source()
        customer = api.customer(ds, "jp")
        inv = monthly_invoice("i", api.plan(ds), "2024-01-01", "2024-02-01", 500, currency="JPY")
        api.invoice(customer, inv)
        for path in ("/metrics/mrr", "/metrics/all", "/metrics/arpa"):
            body = api.ok("GET", path, params=WINDOW, status=422)
            assert body["code"] == 422 and body["param"] is None
            assert "JPY" in body["message"] and "2024-01-31" in body["message"]
        # a customer count needs no rate
        api.ok("GET", "/metrics/customer-count", params=WINDOW)


def test_serve_help_names_the_bundled_rates_as_sample_rates() -> None:
    text = CliRunner().invoke(serve, ["--help"]).output
    assert "--fx-rates" in text and "sample" in text.lower()


def test_serve_reads_its_rates_file_and_refuses_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    class _Handle:
        url = "http://127.0.0.1:1/v1"

        def serve_forever(self) -> None:
            pass

    def fake_make_server(path: str, **kwargs: object) -> _Handle:
        seen.update(kwargs)
        return _Handle()

    monkeypatch.setattr(command, "make_server", fake_make_server)
    good = tmp_path / "rates.csv"
    good.write_text(RATES, encoding="utf-8")
    result = CliRunner().invoke(serve, ["--currency", "jpy", "--fx-rates", str(good)])
    assert result.exit_code == 0, result.output
    rates = seen["fx_rates"]
    assert isinstance(rates, RateTable) and rates.currencies == ("EUR", "JPY", "USD")
    assert "metrics in JPY" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\n2024-01-01,EUR,zero\n", encoding="utf-8")
    refused = CliRunner().invoke(serve, ["--fx-rates", str(bad)])
    assert refused.exit_code == 2 and "bad.csv line 2" in refused.output
    unknown = CliRunner().invoke(serve, ["--currency", "XYZ"])
    assert unknown.exit_code == 2 and "XYZ" in unknown.output
