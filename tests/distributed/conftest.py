"""A real ``redis-server`` on 127.0.0.1 for the distributed tests, started once per session.

The whole folder is skipped, with the reason, when ``redis-server``, Celery or redis-py is
missing (``.ci/run`` installs them, so CI runs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (apt-get install redis-server)", allow_module_level=True)
pytest.importorskip("celery", reason="Celery is not installed (pip install 'saasync[celery]')")
redis = pytest.importorskip("redis", reason="redis-py is not installed (pip install 'saasync[celery]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT``: no persistence, in a temp dir, stopped at the end."""
    folder: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=(folder / "redis.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A copy of the bundled sample business."""
    from tests.e2e.conftest import SAMPLE

    target = tmp_path / "data"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """Database 0 of the session's server, emptied before each test."""
    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()
    yield url
