"""``saasync serve``: its options reach the server, and it serves until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from saasync.server import command
from saasync.server.command import serve


class _FakeHandle:
    url = "http://127.0.0.1:1/v1"

    def serve_forever(self) -> None:
        pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_make_server(path: str, **kwargs: Any) -> _FakeHandle:
        seen.update(kwargs, path=path)
        return _FakeHandle()

    monkeypatch.setattr(command, "make_server", fake_make_server)
    return seen


def test_options_become_the_server_configuration(captured: dict[str, Any]) -> None:
    result = CliRunner().invoke(serve, [
        "--port", "8123", "--db", "x.db", "--rate-limit", "5", "--max-concurrency", "2",
        "--fault-429", "0.1", "--fault-429-retry-after", "--fault-5xx", "0.2",
        "--fault-5xx-after-commit", "0.3", "--fault-drop", "0.05", "--fault-slow", "0.5",
        "--slow-ms", "20", "--seed", "9", "--currency", "eur",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == _FakeHandle.url
    faults = captured["faults"]
    assert (captured["path"], captured["port"], captured["rate_limit"]) == ("x.db", 8123, 5.0)
    assert (faults.p_429, faults.retry_after_share, faults.p_5xx) == (0.1, 1.0, 0.2)
    assert (faults.p_5xx_after_commit, faults.p_drop, faults.p_slow) == (0.3, 0.05, 0.5)
    assert (faults.slow_ms, faults.seed, captured["account"].currency) == (20, 9, "EUR")
    assert captured["api_key"] == "test-key"


def test_the_api_key_comes_from_the_environment_and_share_options_are_checked(
    captured: dict[str, Any],
) -> None:
    runner = CliRunner()
    result = runner.invoke(serve, ["--fault-429-retry-after", "0.25"],
                           env={"SAASYNC_SERVE_API_KEY": "from-env"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert captured["api_key"] == "from-env" and captured["faults"].retry_after_share == 0.25
    assert "from-env" not in result.output
    assert runner.invoke(serve, ["--fault-5xx", "2"]).exit_code == 2


def test_serve_answers_http_until_interrupted(tmp_path: Path) -> None:
    code = "import sys; from saasync.server.command import serve; sys.exit(serve.main())"
    env = {**os.environ, "SAASYNC_SERVE_API_KEY": "k-123"}
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--db", str(tmp_path / "served.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert requests.get(url + "/ping", auth=("k-123", ""), timeout=5).json() == {
            "data": "pong!"
        }
        assert requests.get(url + "/ping", auth=("test-key", ""), timeout=5).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert (tmp_path / "served.db").exists()
