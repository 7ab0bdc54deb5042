"""Routing: a route is a method, a path pattern and the handler that answers it.

Apart from ``wire`` (requests, responses, errors, pages) because a handler takes the
``ApiContext``, and the context itself speaks ``wire``: this way neither imports the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from saasync.server.context import ApiContext
from saasync.server.wire import ApiRequest, ApiResponse

Handler = Callable[[ApiContext, ApiRequest, Mapping[str, str]], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, template: str, handler: Handler) -> Route:
    """``/v1/customers/{uuid}`` matches one path segment per ``{name}``."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), handler)
