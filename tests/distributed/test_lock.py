"""The per-connection lock in Redis, and the task's answer when a connection is busy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from saasync.distributed.options import DistributedOptions
from saasync.distributed.tasks import RedisLock, lock_key, run_task
from saasync.state import StateStore
from tests.e2e.conftest import write_config


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_a_second_holder_is_excluded_until_the_ttl_passes(client: redis.Redis) -> None:
    first = RedisLock(client, "saasync:lock:x", 0.4, owner={"task_id": "t1"})
    second = RedisLock(client, "saasync:lock:x", 0.4, owner={"task_id": "t2"})
    assert first.acquire()
    assert not second.acquire()
    assert second.holder() is not None and second.holder()["task_id"] == "t1"  # type: ignore[index]
    assert not second.release()  # only the owner releases
    time.sleep(0.5)  # not extended: a killed worker's lock frees itself
    assert second.acquire()
    assert not first.extend() and not first.release()  # the old owner cannot touch it
    assert second.holder()["task_id"] == "t2"  # type: ignore[index]


def test_a_kept_alive_lock_outlives_its_ttl_and_is_released_after(client: redis.Redis) -> None:
    lock = RedisLock(client, "saasync:lock:y", 0.3)
    other = RedisLock(client, "saasync:lock:y", 0.3)
    assert lock.acquire()
    with lock.kept_alive() as lost:
        time.sleep(1.0)  # more than three TTLs
        assert not other.acquire()
        assert not lost()
    assert other.acquire()  # released at once at the end of the block


def test_a_lock_taken_over_is_reported_lost(client: redis.Redis) -> None:
    lock = RedisLock(client, "saasync:lock:z", 0.3)
    assert lock.acquire()
    with lock.kept_alive() as lost:
        client.set("saasync:lock:z", "someone else")
        deadline = time.monotonic() + 2
        while not lost() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lost()  # the run checks this between customers and stops
    assert client.get("saasync:lock:z") == b"someone else"  # not released: not ours


def options(tmp_path: Path, sample_dir: Path, redis_url: str) -> DistributedOptions:
    config = write_config(tmp_path, sample_dir)
    return DistributedOptions(config_path=str(config), broker_url=redis_url, lock_ttl=5, visibility_timeout=30)


def test_a_run_while_another_worker_holds_the_lock_is_skipped(tmp_path: Path, sample_dir: Path,
                                                              redis_url: str, client: redis.Redis) -> None:
    opts = options(tmp_path, sample_dir, redis_url)
    holder = RedisLock(client, lock_key("sample"), 5, owner={"task_id": "t-first", "host": "w1", "pid": 7})
    assert holder.acquire()
    result = run_task(opts, "sample", task_id="t-second")
    assert result["status"] == "skipped" and result["reason"] == "locked"
    assert "t-first" in result["message"] and "w1" in result["message"]
    assert "token" not in result["holder"]
    # the same task, redelivered while its first worker's lock is still there
    assert run_task(opts, "sample", task_id="t-first")["reason"] == "own_lock"
    assert not (tmp_path / "store").exists()  # nothing ran


def test_a_manual_run_holding_the_state_lock_makes_the_task_skip(tmp_path: Path, sample_dir: Path,
                                                                 redis_url: str, client: redis.Redis) -> None:
    opts = options(tmp_path, sample_dir, redis_url)
    with StateStore(tmp_path / "state" / "state.db") as state, state.lock("sample"):
        result = run_task(opts, "sample", task_id="t1")
    assert result["status"] == "skipped" and result["reason"] == "state_locked"
    assert client.get(lock_key("sample")) is None  # the Redis lock was given back
    done = run_task(opts, "sample", task_id="t2")
    assert done["status"] == "ok" and done["counts"]["read"] > 1000 and done["changes"]["created"] > 1000
    assert client.get(lock_key("sample")) is None
