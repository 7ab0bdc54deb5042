"""``explain`` and ``reconcile`` against ChartMogul (``saasync serve``, real HTTP): what
they cost in requests, and that reading less changes nothing in what they print."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import requests

from saasync.cli import main
from saasync.destinations.chartmogul import readback
from saasync.sending import ProgressFn
from saasync.server.app import make_server
from tests.reports.conftest import T, sample_config

KEY_ENV = "SAASYNC_TEST_CHARTMOGUL_KEY"


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config whose ChartMogul (``saasync serve``) holds one full sync of the sample."""
    folder = tmp_path_factory.mktemp("chartmogul")
    with pytest.MonkeyPatch.context() as mp, make_server(
            folder / "account.db", api_key="k", rate_limit=0, max_concurrency=0) as server:
        mp.setenv(KEY_ENV, "k")
        destination = (f'type = "chartmogul"\napi_key_env = "{KEY_ENV}"\n'
                       f'base_url = "{server.url}"\nrequests_per_second = 5000.0')
        config = sample_config(folder)
        config.write_text(config.read_text().replace('type = "local"', destination))
        assert cli("sync", "--config", str(config))[0] in (0, 5)  # 5: the sample quarantines
        yield config


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(args))
    return code, out.getvalue()


class Sent:
    """Every request ``requests`` sends (from any thread), by URL."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.urls: list[str] = []
        lock = threading.Lock()
        real = requests.Session.send

        def send(session: requests.Session, request: requests.PreparedRequest,
                 **kw: Any) -> requests.Response:
            with lock:
                self.urls.append(request.url or "")
            return real(session, request, **kw)

        mp.setattr(requests.Session, "send", send)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, account: Path) -> Sent:
    monkeypatch.setenv(KEY_ENV, "k")
    return Sent(monkeypatch)


def whole_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """explain as it read before: the whole data source, every customer's subscriptions."""
    monkeypatch.setattr(readback, "read_customer",
                        lambda client, ds, cid: readback.read_state(client, ds))
    monkeypatch.setattr(readback._Reading, "read_subscriptions", lambda self, workers: [
        self.add_subscriptions(u, self.client.iter_subscriptions(u)) for u in self.customer_ext])


@pytest.mark.parametrize("ident", ["sub_0173", "cus_0173", "sub_paused", "cus_unknown_here"])
def test_explain_reads_one_customer_in_a_handful_of_requests(
        account: Path, sent: Sent, monkeypatch: pytest.MonkeyPatch, ident: str) -> None:
    args = ("explain", ident, "--config", str(account), "--at", T)
    code, out = cli(*args)
    cheap = list(sent.urls)
    assert len(cheap) <= 6, cheap  # data source, customer, plans, invoices, subscriptions
    if code == 0:
        assert any("external_id=" in url for url in cheap)
        whole_account(monkeypatch)
        assert cli(*args) == (code, out)  # the same story as from the whole account
        assert len(sent.urls) - len(cheap) > 250
    else:
        assert cheap == []  # not an id of the source: ChartMogul is not asked


def test_reconcile_lists_at_full_pages_and_asks_only_subscribed_customers(
        account: Path, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("reconcile", "--config", str(account), "--at", T, "--json")
    code, out = cli(*args)
    assert code == 0
    lists = [u for u in sent.urls if "data_sources" not in u]
    assert all("per_page=200" in u for u in lists)
    per_customer = [u for u in lists if "/import/customers/" in u]
    # the data source, then 2 pages of ~290 customers, 1 of plans, 7 of ~1,350 invoices
    assert len(sent.urls) - len(per_customer) <= 12
    asked = len(sent.urls)
    whole_account(monkeypatch)
    code, everything = cli(*args)
    assert json.loads(everything) == json.loads(out)
    assert len(sent.urls) - asked > asked  # every customer's subscriptions: more requests


def test_reconcile_shows_a_bar_on_a_terminal_only(
        account: Path, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    from saasync.reports import commands

    shown: list[bool] = []
    real = commands.progress_bar

    def bar(enabled: bool) -> AbstractContextManager[ProgressFn | None]:
        shown.append(enabled)
        return real(False)

    monkeypatch.setattr(commands, "progress_bar", bar)
    cli("reconcile", "--config", str(account), "--at", T)  # captured: not a terminal
    assert shown == [False]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    assert commands._show_progress(as_json=False) is True
    assert commands._show_progress(as_json=True) is False


def test_a_dry_run_shows_its_read_back_on_a_terminal(
        account: Path, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync --dry-run`` on a terminal: a bar hears of the invoices listed, then of the
    subscription listings n of N, before the run's own bar; none with ``--json``."""
    from saasync import runner

    heard: list[tuple[str, int, int | None]] = []
    shown: list[bool] = []

    @contextlib.contextmanager
    def bar(enabled: bool) -> Iterator[ProgressFn | None]:
        shown.append(enabled)
        yield (lambda *seen: heard.append(seen)) if enabled else None

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(runner, "progress_bar", bar)
    monkeypatch.setattr("sys.stdout", Terminal())
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["sync", "--dry-run", "--config", str(account)]) in (0, 5)
    assert shown[:1] == [True]
    stages = [stage for stage, _, _ in heard]
    read_back = stages[:stages.index("subscriptions")]
    assert read_back and set(read_back) == {"invoices"}
    subscriptions = [(done, total) for stage, done, total in heard if stage == "subscriptions"]
    total = subscriptions[-1][1]
    assert total and subscriptions[-1] == (total, total) and len(subscriptions) == total + 1
    shown.clear()
    assert cli("sync", "--dry-run", "--json", "--config", str(account))[0] in (0, 5)
    assert not any(shown)
