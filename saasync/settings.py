"""Configuration: pydantic models and the TOML loader, with errors that name the key.

Several named connections per file. Secrets are never values in the file: a key ending
in ``_env`` names the environment variable that holds the secret.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saasync.errors import ConfigError

_SECRET_KEY = re.compile(r"(api_?key|secret|token|password)$", re.IGNORECASE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DestinationSettings(Strict):
    type: Literal["local", "chartmogul"] = "local"
    path: str = ".saasync/analytics.db"  # local store file
    data_source: str = "saasync"
    base_url: str = "https://api.chartmogul.com/v1"
    api_key_env: str = "CHARTMOGUL_API_KEY"
    # auto: a backfill or a first sync (no cursor yet) that sends more than bulk_threshold
    # objects goes in bulk (json_imports), everything else per customer (saasync.runner)
    import_mode: Literal["auto", "per_customer", "bulk"] = "auto"
    # objects = plans + customers + new invoices the run sends (an invoice with its line
    # items and transactions counts once); ChartMogul advises bulk above about 100
    bulk_threshold: int = Field(default=100, ge=0)
    # 5 % under ChartMogul's 40/s: our window and theirs never line up exactly
    requests_per_second: float = Field(default=38.0, gt=0)
    max_concurrency: int = Field(default=20, ge=1)


class ConnectionSettings(Strict):
    connector: str
    options: dict[str, Any] = Field(default_factory=dict)
    open_invoices: Literal["exclude", "include"] = "exclude"
    grace_days: int = Field(default=0, ge=0)
    # Cancel subscriptions the source never describes (inferred from invoice lines) once
    # their last invoiced period ended more than this many days before the run; off by default.
    auto_churn_days: int | None = Field(default=None, ge=1)
    lookback_hours: float = Field(default=24.0, ge=0)
    schedule: str | None = None  # cron expression for `saasync schedule`
    jitter_seconds: float = Field(default=0.0, ge=0)
    max_lag_minutes: float | None = Field(default=None, gt=0)  # `status --check` threshold
    destination: DestinationSettings = Field(default_factory=DestinationSettings)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from croniter import croniter

            if not croniter.is_valid(value):
                raise ValueError(f"not a cron expression: {value!r} (e.g. \"*/15 * * * *\")")
        return value

    @field_validator("options")
    @classmethod
    def _no_secrets_in_file(cls, options: dict[str, Any]) -> dict[str, Any]:
        for key, value in options.items():
            if _SECRET_KEY.search(key) and not key.endswith("_env"):
                raise ValueError(
                    f"{key!r} looks like a secret: secrets are never written in the config; "
                    f"put it in an environment variable and set {key}_env = \"VAR_NAME\""
                )
            del value
        return options


class Settings(Strict):
    state: str = ".saasync/state.db"
    connections: dict[str, ConnectionSettings]
    base_dir: Path = Path(".")

    def connection(self, name: str | None) -> tuple[str, ConnectionSettings]:
        if name is None:
            if len(self.connections) == 1:
                return next(iter(self.connections.items()))
            raise ConfigError(
                "several connections are configured; choose one with --connection "
                f"({', '.join(sorted(self.connections))})"
            )
        if name not in self.connections:
            raise ConfigError(
                f"no connection {name!r} in the config (have: {', '.join(sorted(self.connections))})"
            )
        return name, self.connections[name]

    def resolve(self, path: str) -> Path:
        """Paths in the config are relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def format_validation_error(source: str, exc: ValidationError) -> str:
    """``SOURCE: invalid configuration`` and one ``  KEY: what is wrong`` line per error: the
    one formatter of configuration errors (the core settings and every connector's options)."""
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `saasync init` writes a commented example)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "literal_error":
            msg = f"expected {msg.removeprefix('Input should be ')}, got {err['input']!r}"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def parse_settings(data: Mapping[str, Any], *, source: str, base_dir: Path) -> Settings:
    if "connections" not in data or not data["connections"]:
        raise ConfigError(f"{source}: no [connections.NAME] table: configure at least one "
                          "connection (`saasync init` writes a commented example)")
    try:
        return Settings.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_settings(path: str | Path | None) -> Settings:
    """Load a TOML config file; ``None`` loads the embedded defaults (the bundled sample)."""
    if path is None:
        text = resources.files("saasync.defaults").joinpath("default.toml").read_text("utf-8")
        return parse_settings(tomllib.loads(text), source="embedded defaults", base_dir=Path.cwd())
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {file} (`saasync init {file}` writes a "
                          "commented starter config)")
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_settings(data, source=str(file), base_dir=file.resolve().parent)
