"""The Celery task: one connection run per task, under a per-connection lock shared through Redis.

``saasync.sync_connection(name)`` runs ``saasync sync`` for one connection. Two locks
guard it: a Redis lock (so two workers on different hosts never run one connection at
once) and, inside it, the state store's own lock (so a manual ``saasync sync`` and a
worker never overlap either). The Redis lock is a lease: it expires ``lock_ttl`` seconds
after its last extension, and a heartbeat thread extends it while the run goes on, so
the lock of a killed worker frees itself. A run that loses its lease (Redis unreachable
for a whole TTL) stops after the customer in hand, as on SIGTERM.

Tasks are acknowledged late: a worker killed mid-run leaves its message unacknowledged,
and Redis hands it to another worker after the visibility timeout. Running it again is
safe because a run is idempotent: the pushed map is written after the destination
accepted each change, and re-sent creates are recognised by external id.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
import structlog

from saasync.destinations.base import Destination
from saasync.distributed.ratelimit import RedisRateLimiter
from saasync.errors import ConfigError, LockedError
from saasync.runner import DestinationFactory, make_destination, run_connection
from saasync.settings import ConnectionSettings, Settings, load_settings

if TYPE_CHECKING:
    from celery import Celery

    from saasync.distributed.options import DistributedOptions

TASK_NAME = "saasync.sync_connection"
OWN_LOCK_RETRIES = 5
log = structlog.get_logger("saasync.distributed")

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    """A lease on one Redis key: taken with ``SET NX PX``, extended and released only by its
    owner (the value, with a random token, is compared in a Lua script)."""

    def __init__(self, client: redis.Redis, key: str, ttl: float, *,
                 owner: Mapping[str, Any] | None = None) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        self.key = key
        self.ttl = ttl
        self.owner = {"token": uuid.uuid4().hex, **(owner or {})}
        self._value = json.dumps(self.owner, sort_keys=True)
        self._client = client
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self._client.set(self.key, self._value, nx=True, px=self._ttl_ms))

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now (their owner fields), or None when it is free."""
        raw = self._client.get(self.key)
        if raw is None:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return {"value": str(raw)}
        return found if isinstance(found, dict) else {"value": found}

    def extend(self) -> bool:
        """Push the expiry ``ttl`` seconds ahead; False when the lock is no longer ours."""
        return bool(self._extend(keys=[self.key], args=[self._value, self._ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self._value]))

    @property
    def _ttl_ms(self) -> int:
        return max(round(self.ttl * 1000), 1)

    @contextmanager
    def kept_alive(self, every: float | None = None) -> Iterator[Callable[[], bool]]:
        """Extend the held lock every ``every`` seconds (default a third of the TTL) until
        the block ends, then release it. Yields ``lost()``: True once the lease could not
        be renewed (taken over, or Redis unreachable for a whole TTL)."""
        interval = every if every is not None else self.ttl / 3
        lost, stop = threading.Event(), threading.Event()

        def heartbeat() -> None:
            renewed = time.monotonic()
            while not stop.wait(interval):
                try:
                    if self.extend():
                        renewed = time.monotonic()
                        continue
                    reason = "taken over or expired"
                except redis.RedisError as exc:
                    if time.monotonic() - renewed < self.ttl:
                        log.warning("lock not extended: retrying", key=self.key, error=str(exc))
                        continue
                    reason = f"Redis unreachable: {exc}"
                log.error("lock lost: the run stops after the customer in hand", key=self.key,
                          reason=reason)
                lost.set()
                return

        thread = threading.Thread(target=heartbeat, name=f"lock:{self.key}", daemon=True)
        thread.start()
        try:
            yield lost.is_set
        finally:
            stop.set()
            thread.join()
            try:
                self.release()
            except redis.RedisError as exc:  # the lease expires on its own
                log.warning("lock not released: it expires by itself", key=self.key, error=str(exc))


def lock_key(connection: str) -> str:
    return f"saasync:lock:{connection}"


def paced_destinations(client: redis.Redis, stack: ExitStack) -> DestinationFactory:
    """``make_destination``, except that a ChartMogul destination paces itself with the
    account's limiter in Redis instead of a per-process one. ``stack`` closes the
    HTTP clients made here (the destination does not close a client it was given)."""
    from saasync.destinations.chartmogul.client import build_http
    from saasync.http import read_secret

    def build(settings: Settings, conn: ConnectionSettings) -> Destination:
        dest = conn.destination
        if dest.type != "chartmogul":
            return make_destination(settings, conn)
        try:
            key = read_secret(os.environ, dest.api_key_env)
        except ConfigError as exc:
            raise ConfigError(f"destination chartmogul: {exc}") from None
        http = build_http(dest, key, sleep=time.sleep, clock=time.monotonic)
        stack.callback(http.close)
        http.limiter = RedisRateLimiter.for_destination(client, dest)
        return make_destination(settings, conn, http=http)

    return build


def _skipped(name: str, reason: str, message: str, holder: Mapping[str, Any] | None = None) -> dict[str, Any]:
    log.warning("run skipped", connection=name, reason=reason, message=message)
    out: dict[str, Any] = {"connection": name, "status": "skipped", "reason": reason, "message": message}
    if holder is not None:
        out["holder"] = {k: v for k, v in holder.items() if k != "token"}
    return out


def run_task(options: DistributedOptions, name: str, *, task_id: str | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Sync one connection under the Redis lock; the result is JSON (counts and changes).

    Returns ``status = "skipped"`` without running when another run of the connection
    holds either lock, and ``reason = "own_lock"`` when the lock is held under this very
    ``task_id`` (a redelivered task whose first worker died less than a TTL ago).
    """
    settings = load_settings(options.config_path)
    _, conn = settings.connection(name)
    client = redis.Redis.from_url(options.redis_url)
    try:
        lock = RedisLock(client, lock_key(name), options.lock_ttl, owner={
            "task_id": task_id, "host": socket.gethostname(), "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds")})
        if not lock.acquire():
            holder = lock.holder() or {}
            if task_id is not None and holder.get("task_id") == task_id:
                return _skipped(name, "own_lock", "this task already holds the lock", holder)
            return _skipped(name, "locked", f"connection {name!r} is already being synced by task "
                            f"{holder.get('task_id')} on {holder.get('host')} (pid {holder.get('pid')}) "
                            f"since {holder.get('since')}", holder)
        with lock.kept_alive() as lost, ExitStack() as stack:
            try:
                report = run_connection(
                    settings, name, conn, mode="sync", dry_run=False,
                    should_stop=lambda: lost() or should_stop(),
                    destination_factory=paced_destinations(client, stack))
            except LockedError as exc:  # a manual `saasync sync` holds the state store's lock
                return _skipped(name, "state_locked", str(exc))
        result = {"connection": name, "status": report.status, "counts": report.counts(),
                  "changes": report.changes(), "duration_s": round(report.duration_s, 3)}
        if lost():
            result["message"] = "the lock was lost: the run stopped early; the next run goes on"
        plain: dict[str, Any] = json.loads(json.dumps(result, default=str))
        return plain
    finally:
        client.close()


def register_tasks(app: Celery, options: DistributedOptions) -> Any:
    """Register ``saasync.sync_connection`` on ``app``; returns the task."""

    def sync_connection(task: Any, name: str) -> dict[str, Any]:
        result = run_task(options, name, task_id=task.request.id)
        if result.get("reason") == "own_lock" and task.request.retries < OWN_LOCK_RETRIES:
            # this task's first worker died less than a TTL ago: run once its lock expired
            raise task.retry(countdown=options.lock_ttl, max_retries=OWN_LOCK_RETRIES)
        return result

    # shared=False: the closure holds this app's options; never hand it to other apps
    return app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
                    shared=False)(sync_connection)
