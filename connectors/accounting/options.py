"""The options the accounting connectors (QuickBooks, Xero) share: the OAuth2 app and the
item mappings. Each connector's options model declares them (in its own order) with these
helpers, so the meanings, examples and checks are written once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator

from saasync.connector_options import option
from saasync.http.oauth2 import OAuth2Settings

# -- OAuth2 ----------------------------------------------------------------------------------


def client_id_env(prefix: str) -> Any:
    return option(f"{prefix}_CLIENT_ID", "variable holding the OAuth2 app's client id",
                  example=f'"{prefix}_CLIENT_ID"', active=True)


def client_secret_env(prefix: str) -> Any:
    return option(f"{prefix}_CLIENT_SECRET", "variable holding the OAuth2 app's client secret",
                  example=f'"{prefix}_CLIENT_SECRET"', active=True)


def refresh_token_env(prefix: str) -> Any:
    return option(f"{prefix}_REFRESH_TOKEN", "variable holding the refresh token from "
                  "connecting the app; read on the first run only, after which the rotated "
                  "tokens live in the state file", example=f'"{prefix}_REFRESH_TOKEN"',
                  active=True)


def token_url(default: str) -> Any:
    return option(default, "the provider's token endpoint (for tests)", example=f'"{default}"')


def _env_var(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must name an environment variable, got {value!r}")
    return value.strip()


#: The name of the environment variable holding an OAuth2 secret.
EnvVar = Annotated[str, BeforeValidator(_env_var)]


def token_endpoint(example: str) -> BeforeValidator:
    """An absolute http(s) token URL, kept as given (only stripped of spaces)."""
    def check(value: Any) -> str:
        parts = urlsplit(value if isinstance(value, str) else "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL such as {example}, "
                             f"got {value!r}")
        return str(value).strip()
    return BeforeValidator(check)


def oauth2_of(options: Any, *, provider: str, reauthorize: str) -> OAuth2Settings:
    """The OAuth2 settings of a checked options model that declares the four OAuth2 keys."""
    return OAuth2Settings(provider=provider, token_url=options.token_url,
                          client_id_env=options.client_id_env,
                          client_secret_env=options.client_secret_env,
                          refresh_token_env=options.refresh_token_env, reauthorize=reauthorize)


#: Said when a user gives an API key to an OAuth2 connector.
def oauth2_mistake(provider: str) -> dict[str, str]:
    return {"api_key_env": f"{provider} uses OAuth2: client_id_env, client_secret_env, "
                           "refresh_token_env"}


# -- item mappings ---------------------------------------------------------------------------
# The shapes are checked here; each entry (intervals, clashes) by ItemRules.from_options.


def one_time_items() -> Any:
    return option([], "item codes (ids or names) whose lines are always one-time charges",
                  example='["SETUP"]')


def item_plans() -> Any:
    return option(
        {}, "item code -> plan: { plan, name, interval_unit (day/week/month/year), "
        'interval_count }, or just "plan-id" for a monthly plan. A line whose item is in '
        "neither list waits in the review queue (UNMAPPED_ITEM) until `saasync review map`",
        example='{ "SUB-GROWTH" = { plan = "growth", name = "Growth", interval_unit = '
                '"month", interval_count = 1 } }')


def _item_plans(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of item code → plan")  # noqa: TRY004 (pydantic)
    return value


def _one_time_items(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(
            isinstance(code, str) and code.strip() for code in value):
        raise ValueError("must be a list of item codes")
    return value


ItemPlans = Annotated[Any, BeforeValidator(_item_plans)]
OneTimeItems = Annotated[Any, BeforeValidator(_one_time_items)]
