"""The Celery app, built from the environment; its beat schedule comes from the connections' cron.

Environment:

- ``SAASYNC_CONFIG``: the saasync config file (TOML) workers and beat run; required.
- ``SAASYNC_BROKER_URL``: the Redis broker, default ``redis://127.0.0.1:6379/0``. The
  locks and the shared rate limiters live in the same Redis.
- ``SAASYNC_RESULT_BACKEND``: where task results go (default: the broker's Redis).
- ``SAASYNC_LOCK_TTL``: seconds a connection's lock outlives its last heartbeat (60).
- ``SAASYNC_VISIBILITY_TIMEOUT``: seconds before Redis hands an unacknowledged task (its
  worker died) to another worker (3600). Longer than your longest run, and than the TTL.

``celery -A saasync.distributed.app worker`` works too: the module builds the app once, when
Celery asks for its ``app`` attribute, so importing it has no side effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from celery import Celery
from celery.schedules import ParseException, crontab

from saasync.distributed.options import DistributedOptions
from saasync.distributed.tasks import TASK_NAME, register_tasks
from saasync.errors import ConfigError
from saasync.scheduler import cron_interval
from saasync.settings import Settings, load_settings

#: cron's nicknames, as the five fields Celery's crontab takes
_ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_schedule(expression: str) -> crontab:
    """A cron expression as Celery's ``crontab``, refusing what the two would read differently."""
    fields = _ALIASES.get(expression.strip().lower(), expression).split()
    if len(fields) != 5:
        raise ConfigError(f"{expression!r}: Celery beat takes five cron fields (minute hour "
                          "day-of-month month day-of-week)")
    minute, hour, day_of_month, month, day_of_week = fields
    if day_of_month != "*" and day_of_week != "*":
        raise ConfigError(f"{expression!r}: cron runs when day-of-month OR day-of-week matches, "
                          "Celery beat when both do; restrict only one of them")
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                       month_of_year=month, day_of_week=day_of_week)
    except (ValueError, ParseException) as exc:
        raise ConfigError(f"{expression!r}: Celery beat cannot read it: {exc}") from None


def beat_schedule(settings: Settings, *, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """One beat entry per connection with a ``schedule``. A task not started within one
    interval expires: the next fire syncs anyway, so a backlog never piles up."""
    now = now or datetime.now(UTC)
    entries: dict[str, dict[str, Any]] = {}
    for name, conn in sorted(settings.connections.items()):
        if not conn.schedule:
            continue
        try:
            schedule = cron_schedule(conn.schedule)
        except ConfigError as exc:
            raise ConfigError(f"connections.{name}.schedule: {exc}") from None
        entries[f"saasync-sync-{name}"] = {
            "task": TASK_NAME,
            "schedule": schedule,
            "args": (name,),
            "options": {"expires": cron_interval(conn.schedule, now).total_seconds()},
        }
    return entries


def create_app(options: DistributedOptions | None = None, *,
               env: Mapping[str, str] | None = None) -> Celery:
    """The saasync Celery app: late acks, one message per worker slot, the beat schedule."""
    options = options or DistributedOptions.from_env(os.environ if env is None else env)
    settings = load_settings(options.config_path)
    app = Celery("saasync", broker=options.broker_url,
                 backend=options.result_backend or options.broker_url, set_as_current=False)
    vt = options.visibility_timeout
    app.conf.update(
        task_acks_late=True,  # a run killed mid-way is redelivered, not lost
        task_reject_on_worker_lost=True,  # ...also when a prefork child dies
        worker_prefetch_multiplier=1,  # a slot holds one run, not a queue of them
        task_track_started=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": vt,
            # look for orphaned messages about ten times per visibility timeout
            "unacked_restore_interval": min(max(vt / 10, 1.0), 60.0),
            "unacked_restore_throttle": 1,
        },
        beat_schedule=beat_schedule(settings),
    )
    register_tasks(app, options)
    return app


@cache
def _environment_app() -> Celery:
    """The app ``celery -A`` finds: built from the environment on first use, then the same
    one (its tasks and connections are per app; building one per access would scatter them)."""
    return create_app()


def __getattr__(name: str) -> Any:
    """``celery -A saasync.distributed.app`` looks for ``app``: build it from the environment."""
    if name in ("app", "celery"):
        return _environment_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
