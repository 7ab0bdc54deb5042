"""A package's ``__init__`` re-exports nothing: every name is imported from the module that
defines it. The exceptions: the two documented entry points, ``saasync.http`` (the one
HTTP layer connectors use, loaded lazily) and ``saasync.destinations.local``
(``LocalStore``), and the package's ``__version__``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACADES = {"saasync/http/__init__.py", "saasync/destinations/local/__init__.py"}


def test_package_inits_hold_only_their_docstring() -> None:
    inits = [p for top in ("saasync", "connectors") for p in (ROOT / top).rglob("__init__.py")]
    assert len(inits) > 10
    offenders = []
    for path in inits:
        name = path.relative_to(ROOT).as_posix()
        if name in FACADES:
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        code = [node for node in body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                and not (isinstance(node, ast.Assign)
                         and ast.unparse(node.targets[0]) == "__version__")]
        if code:
            offenders.append(name)
    assert offenders == []
