"""Where the config, the broker and the results are, read from the environment (see ``app``).

Its own module so that both the app and the tasks import it without importing each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from saasync.errors import ConfigError

ENV_CONFIG = "SAASYNC_CONFIG"
ENV_BROKER = "SAASYNC_BROKER_URL"
ENV_RESULTS = "SAASYNC_RESULT_BACKEND"
ENV_LOCK_TTL = "SAASYNC_LOCK_TTL"
ENV_VISIBILITY = "SAASYNC_VISIBILITY_TIMEOUT"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class DistributedOptions:
    """Where the config, the broker and the results are, and the lock and redelivery timings."""

    config_path: str
    broker_url: str = DEFAULT_BROKER
    result_backend: str | None = None
    lock_ttl: float = 60.0
    visibility_timeout: float = 3600.0

    def __post_init__(self) -> None:
        if not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{ENV_BROKER}: expected a Redis URL (redis://host:port/db), "
                              f"got {self.broker_url.split('@')[-1]!r}")
        if not 0 < self.lock_ttl < self.visibility_timeout:
            raise ConfigError(f"{ENV_LOCK_TTL} ({self.lock_ttl:g} s) must be positive and shorter "
                              f"than {ENV_VISIBILITY} ({self.visibility_timeout:g} s): a redelivered "
                              "task must find the dead worker's lock expired")

    @property
    def redis_url(self) -> str:
        """The Redis that holds the locks and the rate limiters: the broker's."""
        return self.broker_url

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, config_path: str | None = None) -> DistributedOptions:
        path = config_path or env.get(ENV_CONFIG)
        if not path:
            raise ConfigError(f"{ENV_CONFIG} is not set: give the path of the saasync config file "
                              "the workers run (or use `saasync celery worker --config FILE`)")
        return cls(
            config_path=os.path.abspath(path),
            broker_url=env.get(ENV_BROKER) or DEFAULT_BROKER,
            result_backend=env.get(ENV_RESULTS) or None,
            lock_ttl=_seconds(env, ENV_LOCK_TTL, cls.lock_ttl),
            visibility_timeout=_seconds(env, ENV_VISIBILITY, cls.visibility_timeout),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {text!r}") from None
