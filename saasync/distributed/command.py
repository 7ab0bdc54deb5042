"""``saasync celery worker|beat --config FILE``: start a Celery worker or beat with the saasync app.

Celery and redis are an optional extra (``pip install 'saasync[celery]'``): this module
imports them only when a command runs, so ``saasync`` works without them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from saasync.errors import ConfigError

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), required=True,
    help="TOML config; the same file on every worker and on beat.")
passthrough = {"ignore_unknown_options": True, "allow_extra_args": True}


def _app(config_path: str) -> Any:
    try:
        from saasync.distributed.app import create_app
        from saasync.distributed.options import DistributedOptions
    except ImportError as exc:
        raise ConfigError(f"the celery commands need Celery and redis: pip install 'saasync[celery]' "
                          f"({exc})") from None
    return create_app(DistributedOptions.from_env(os.environ, config_path=config_path))


@click.group("celery")
def celery_group() -> None:
    """Scale out on Celery: workers run connection syncs from a Redis queue, beat queues them.

    Environment: SAASYNC_BROKER_URL (default redis://127.0.0.1:6379/0),
    SAASYNC_RESULT_BACKEND, SAASYNC_LOCK_TTL (60), SAASYNC_VISIBILITY_TIMEOUT (3600).
    """


@celery_group.command(context_settings=passthrough)
@config_option
@click.option("--concurrency", type=click.IntRange(min=1), help="Runs at once (default: CPUs).")
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default="prefork",
              show_default=True,
              help="How the worker runs tasks: prefork (processes), threads, or solo (one at a "
                   "time, in the worker's own process).")
@click.option("--loglevel", default="INFO", show_default=True,
              help="Celery's log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.")
@click.option("--hostname", "-n", help="Worker name (default: celery@HOST).")
@click.pass_context
def worker(ctx: click.Context, config_path: str, concurrency: int | None, pool: str, loglevel: str,
           hostname: str | None) -> int:
    """Run connection syncs sent by beat (or `celery call`). Extra options go to Celery."""
    argv = ["worker", f"--pool={pool}", f"--loglevel={loglevel}", *ctx.args]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    _app(config_path).worker_main(argv=argv)
    return 0


@celery_group.command(context_settings=passthrough)
@config_option
@click.option("--schedule-file", type=click.Path(dir_okay=False),
              help="Where beat keeps its last-run times (default: beside the state file).")
@click.option("--loglevel", default="INFO", show_default=True,
              help="Celery's log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.")
@click.pass_context
def beat(ctx: click.Context, config_path: str, schedule_file: str | None, loglevel: str) -> int:
    """Queue a sync of each connection on its `schedule` (cron). Run exactly one beat."""
    from saasync.settings import load_settings

    app = _app(config_path)
    if not app.conf.beat_schedule:
        raise ConfigError("no connection has a `schedule` (a cron expression) for beat to follow")
    if schedule_file is None:
        settings = load_settings(config_path)
        state_dir = Path(settings.resolve(settings.state)).parent
        state_dir.mkdir(parents=True, exist_ok=True)
        schedule_file = str(state_dir / "celerybeat-schedule")
    app.start(argv=["beat", f"--schedule={schedule_file}", f"--loglevel={loglevel}", *ctx.args])
    return 0
