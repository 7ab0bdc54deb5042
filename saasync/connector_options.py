"""Checked connector options: one place that says what a wrong option is, for every connector.

An unknown option is an error (a typo never goes unnoticed); a wrong value names the
connector, the option, what is expected and what was given. A connector declares its
options as a :class:`ConnectorOptions` model; :class:`Options` is the older, imperative
checker, kept for third-party connectors that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticUndefined

from saasync.errors import ConfigError


class Options:
    """A connector's options, checked as they are read."""

    def __init__(self, connector: str, options: Mapping[str, Any], known: Iterable[str],
                 *, hint: str = "") -> None:
        self.connector = connector
        self.options = options
        known = tuple(known)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"{connector} connector: unknown option(s) {', '.join(unknown)}"
                              f"{hint} (known: {', '.join(known)})")

    def error(self, name: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.connector} connector: option {name!r} must be {expected}, "
                           f"got {self.options.get(name)!r}")

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.options.get(name, default)
        if (isinstance(value, bool) or not isinstance(value, int) or value < low
                or (high is not None and value > high)):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.error(name, f"an integer {bound}")
        return value

    def url(self, name: str, default: str, *, example: str = "") -> str:
        """An absolute http(s) URL, without its trailing slash."""
        value = str(self.options.get(name, default)).strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(name, f"an absolute http(s) URL such as {example or default}")
        return value

    def env_name(self, name: str, default: str) -> str:
        """The name of the environment variable that holds a secret (never the secret)."""
        value = self.options.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.connector} connector: option {name!r} must name the "
                              "environment variable holding the API key")
        return value.strip()


# -- options models --------------------------------------------------------------------------
#
# A connector declares its options as a pydantic model (a subclass of ConnectorOptions);
# `parse` checks them and reports what is wrong through the formatter the core settings use,
# and `saasync init` / `saasync connectors` read each option's meaning and example from it.


class ConnectorOptions(BaseModel):
    """Base of a connector's options model: unknown keys are errors, values are not coerced
    (``"50"`` is no page size, ``true`` no number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    #: The connector's name, as errors name it.
    connector: ClassVar[str] = "?"
    #: Said after an unknown option that is a common mistake (the key, the hint).
    mistakes: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> Self:
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise ConfigError(options_error(cls, exc)) from None


def options_error(model: type[ConnectorOptions], exc: ValidationError) -> str:
    """The core settings' message (``KEY: what is wrong``, one line each), headed by the
    connector's name; an unknown key also lists the known ones."""
    from saasync.settings import (
        _format_error,  # the one formatter; settings imports nothing of ours
    )

    text = _format_error(f"{model.connector} connector", exc)
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        hints = [model.mistakes[key] for key in unknown if key in model.mistakes]
        text += "".join(f"\n  ({hint})" for hint in hints)
        text += f"\n  known options: {', '.join(model.model_fields)}"
    return text


def option(default: Any = PydanticUndefined, meaning: str = "", *, example: str = "",
           active: bool = False) -> Any:
    """A documented option: ``meaning`` and the TOML ``example`` are what ``saasync init``
    writes; ``active`` options are written as keys (required ones, secrets' variable names)."""
    return Field(default, description=meaning,
                 json_schema_extra={"example": example, "active": active})


def _integer(low: int, high: int | None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if (isinstance(value, bool) or not isinstance(value, int) or value < low
                or (high is not None and value > high)):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise ValueError(f"must be an integer {bound}, got {value!r}")
        return value
    return check


def between(low: int, high: int | None = None) -> BeforeValidator:
    """``Annotated[int, between(1, 100)]``: an int in ``[low, high]``; a bool or a string is
    refused (``must be an integer 1..100, got '50'``)."""
    return BeforeValidator(_integer(low, high))


def _url(example: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL such as {example}, got {value!r}")
        return text
    return check


def http_url(example: str) -> BeforeValidator:
    """``Annotated[str, http_url(example)]``: an absolute http(s) URL, without its trailing
    slash."""
    return BeforeValidator(_url(example))


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must name the environment variable holding the secret, "
                         f"got {value!r}")
    return value.strip()


#: The name of the environment variable that holds a secret (never the secret).
EnvName = Annotated[str, BeforeValidator(_env_name)]


def option_docs(model: type[BaseModel]) -> list[tuple[str, str, str, bool]]:
    """``(name, meaning, example, active)`` of each option, in declaration order."""
    out = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append((name, info.description or "", str(extra.get("example", "")),
                    bool(extra.get("active", False))))
    return out
