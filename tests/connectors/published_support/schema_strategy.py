"""Hypothesis strategies from the (dereferenced, trimmed) OpenAPI schema fragments stored
beside the published-payload suites.

``hypothesis-jsonschema`` 0.23.1 (its latest release) fails on object schemas with the
Hypothesis in use here (``'many' object has no attribute 'more'``, an internal API it
relies on was removed), so this covers the small subset of JSON Schema those fragments
use: ``type`` (one or a list, ``null`` included), ``enum``, ``properties`` (every property
optional, as vendors leave fields out), ``items``/``maxItems``, ``format`` for dates and
uuids, ``nullable``, ``allOf``/``anyOf``/``oneOf``. Strings are short, mixing formatted
and arbitrary text, so mappings meet both well-formed and malformed values.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_DATE = st.dates().map(lambda d: d.isoformat())
_DATETIME = st.datetimes().map(lambda d: d.isoformat() + "Z")
_TEXT = st.text(max_size=12)
_FORMATS = {"date": _DATE, "date-time": _DATETIME, "uuid": st.uuids().map(str)}


def strategy(schema: Any) -> st.SearchStrategy[Any]:
    if not isinstance(schema, dict) or not schema:
        return st.none() | st.booleans() | st.integers() | _TEXT
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            parts = [strategy(part) for part in schema[key]]
            return st.one_of(parts)
    base = _base(schema)
    return (st.none() | base) if schema.get("nullable") else base


def _base(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([_base({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=-10**12, max_value=10**12)
    if kind == "number":
        return (st.integers(min_value=-10**9, max_value=10**9)
                | st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False))
    if kind == "string":
        fmt = _FORMATS.get(schema.get("format", ""))
        return (fmt | _TEXT) if fmt is not None else _TEXT
    if kind == "array":
        return st.lists(strategy(schema.get("items", {})), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return st.fixed_dictionaries({}, optional={k: strategy(v) for k, v in props.items()})
    return strategy({})
