"""The Celery app: settings that make runs safe to redeliver, and beat built from the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saasync.distributed.app import (
    beat_schedule,
    create_app,
    cron_schedule,
)
from saasync.distributed.options import DistributedOptions
from saasync.distributed.tasks import TASK_NAME
from saasync.errors import ConfigError
from saasync.scheduler import next_fire
from saasync.settings import load_settings

CONFIG = """
state = "state.db"
[connections.quarter]
connector = "files"
schedule = "*/15 * * * *"
[connections.weekdays]
connector = "files"
schedule = "30 9 * * 1-5"
[connections.nightly]
connector = "files"
schedule = "@daily"
[connections.manual]
connector = "files"
"""


def write(folder: Path, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "saasync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_beat_schedule_has_one_entry_per_scheduled_connection(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path))
    entries = beat_schedule(settings, now=datetime(2026, 3, 4, 10, 7, tzinfo=UTC))
    assert sorted(entries) == ["saasync-sync-nightly", "saasync-sync-quarter", "saasync-sync-weekdays"]
    quarter = entries["saasync-sync-quarter"]
    assert quarter["task"] == TASK_NAME and quarter["args"] == ("quarter",)
    assert quarter["schedule"].minute == {0, 15, 30, 45} and quarter["schedule"].hour == set(range(24))
    assert quarter["options"] == {"expires": 900.0}  # not started within one interval: dropped
    weekdays = entries["saasync-sync-weekdays"]["schedule"]
    assert (weekdays.minute, weekdays.hour, weekdays.day_of_week) == ({30}, {9}, {1, 2, 3, 4, 5})
    nightly = entries["saasync-sync-nightly"]["schedule"]
    assert (nightly.minute, nightly.hour, nightly.day_of_month) == ({0}, {0}, set(range(1, 32)))


@pytest.mark.parametrize("expression", ["*/15 * * * *", "30 9 * * 1-5", "0 0 1 * *", "5 */6 * * *",
                                        "0 12 * jan,jul *", "@hourly", "45 23 * * 0"])
def test_beat_fires_when_the_in_process_scheduler_would(expression: str) -> None:
    schedule = cron_schedule(expression)
    start = datetime(2026, 1, 30, 22, 50, tzinfo=UTC)
    for step in range(6):
        now = start + timedelta(hours=13 * step, minutes=7 * step)
        schedule.nowfun = lambda now=now: now  # type: ignore[misc]
        due = now + schedule.remaining_estimate(now)
        assert abs((due - next_fire(expression, now)).total_seconds()) < 1, (expression, now)


@pytest.mark.parametrize(("expression", "message"), [
    ("0 0 1 * 1", "OR"),  # cron: the 1st or a Monday; beat: a Monday the 1st
    ("*/5 * * * * *", "five cron fields"),
    ("0 0 * * 7", "cannot read"),
])
def test_what_beat_would_read_differently_is_refused(tmp_path: Path, expression: str, message: str) -> None:
    settings = load_settings(write(tmp_path, f'[connections.x]\nconnector = "files"\nschedule = "{expression}"\n'))
    with pytest.raises(ConfigError, match=message) as err:
        beat_schedule(settings)
    assert "connections.x.schedule" in str(err.value)


def test_the_app_acks_late_prefetches_one_and_reads_the_environment(tmp_path: Path) -> None:
    config = write(tmp_path)
    app = create_app(env={"SAASYNC_CONFIG": str(config), "SAASYNC_BROKER_URL": "redis://127.0.0.1:1/3",
                          "SAASYNC_VISIBILITY_TIMEOUT": "7200"})
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_url == "redis://127.0.0.1:1/3" and conf.result_backend == "redis://127.0.0.1:1/3"
    assert conf.broker_transport_options["visibility_timeout"] == 7200
    assert set(conf.beat_schedule) == {"saasync-sync-nightly", "saasync-sync-quarter", "saasync-sync-weekdays"}
    assert TASK_NAME in app.tasks
    other = create_app(env={"SAASYNC_CONFIG": str(write(tmp_path / "other"))})
    assert other.tasks[TASK_NAME] is not app.tasks[TASK_NAME]  # each app runs its own config


def test_options_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SAASYNC_CONFIG is not set"):
        DistributedOptions.from_env({})
    config = str(write(tmp_path))
    with pytest.raises(ConfigError, match="SAASYNC_LOCK_TTL"):
        DistributedOptions.from_env({"SAASYNC_LOCK_TTL": "soon"}, config_path=config)
    with pytest.raises(ConfigError, match="shorter than SAASYNC_VISIBILITY_TIMEOUT"):
        DistributedOptions.from_env({"SAASYNC_LOCK_TTL": "600", "SAASYNC_VISIBILITY_TIMEOUT": "300"},
                                    config_path=config)
    with pytest.raises(ConfigError, match="SAASYNC_BROKER_URL: expected a Redis URL") as err:
        DistributedOptions.from_env({"SAASYNC_BROKER_URL": "amqp://user:pw@host//"}, config_path=config)
    assert "pw" not in str(err.value)


def test_celery_dash_a_finds_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.app.utils import find_app

    monkeypatch.setenv("SAASYNC_CONFIG", str(write(tmp_path)))
    app = find_app("saasync.distributed.app")
    assert TASK_NAME in app.tasks
    import saasync.distributed.app as module

    assert module.app is app is module.celery  # built once, then the same app on every access
