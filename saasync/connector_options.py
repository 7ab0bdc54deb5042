"""Checked connector options: one place that says what a wrong option is, for every connector.

An unknown option is an error (a typo never goes unnoticed); a wrong value names the
connector, the option, what is expected and what was given. A connector declares its
options as a :class:`ConnectorOptions` model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticUndefined

from saasync.errors import ConfigError
from saasync.settings import format_validation_error

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

    @classmethod
    def invalid(cls, key: str, message: str) -> ConfigError:
        """A check across options (a model validator raises it): the same message as a
        field's own check, naming ``key``."""
        exc = ValidationError.from_exception_data(cls.__name__, [
            {"type": "value_error", "loc": (key,), "input": None,
             "ctx": {"error": ValueError(message)}}])
        return ConfigError(options_error(cls, exc))


def options_error(model: type[ConnectorOptions], exc: ValidationError) -> str:
    """The core settings' message (``KEY: what is wrong``, one line each), headed by the
    connector's name; an unknown key also lists the known ones."""
    text = format_validation_error(f"{model.connector} connector", exc)
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        hints = [model.mistakes[key] for key in unknown if key in model.mistakes]
        text += "".join(f"\n  ({hint})" for hint in hints)
        text += f"\n  known options: {', '.join(model.model_fields)}"
    return text


def option(default: Any = PydanticUndefined, meaning: str = "", *, example: str = "",
           active: bool = False, check_default: bool = False) -> Any:
    """A documented option: ``meaning`` and the TOML ``example`` are what ``saasync init``
    writes; ``active`` options are written as keys (required ones, secrets' variable names).
    ``check_default``: the validators also see the default (a required option whose absence
    gets its own message, or a default that depends on an earlier option)."""
    extra: dict[str, Any] = {"validate_default": True} if check_default else {}
    return Field(default, description=meaning,
                 json_schema_extra={"example": example, "active": active}, **extra)


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


def absolute_url(value: Any, example: str) -> str:
    """``value`` as an absolute http(s) URL without its trailing slash; a ValueError (the
    message an options model shows) otherwise."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL such as {example}, got {value!r}")
    return text


def _url(example: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return absolute_url(value, example)
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


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")  # noqa: TRY004 (pydantic)
    return value


#: ``true`` or ``false`` (``"yes"`` and ``1`` are refused).
Flag = Annotated[bool, BeforeValidator(_flag)]


def option_docs(model: type[BaseModel]) -> list[tuple[str, str, str, bool]]:
    """``(name, meaning, example, active)`` of each option, in declaration order."""
    out = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append((name, info.description or "", str(extra.get("example", "")),
                    bool(extra.get("active", False))))
    return out
