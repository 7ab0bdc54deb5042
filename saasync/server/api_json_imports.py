"""Bulk-import reports (``ApiStore.json_imports``): what ``POST data_sources/{uuid}/
json_imports`` answered, kept per data source for ``GET .../json_imports/{id}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from saasync.destinations.local.rows import DataSourceInfo
from saasync.server.api_sql import Sql


class JsonImports:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def save(self, ds: DataSourceInfo, import_id: str, doc: Mapping[str, Any]) -> None:
        with self.sql.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_json_imports (id, data_source_id, doc) "
                "VALUES (?, ?, ?)",
                [import_id, ds.id, json.dumps(dict(doc))],
            )

    def get(self, ds: DataSourceInfo, import_id: str) -> dict[str, Any] | None:
        row = self.sql.conn.execute(
            "SELECT doc FROM api_json_imports WHERE id = ? AND data_source_id = ?",
            [import_id, ds.id],
        ).fetchone()
        return json.loads(row[0]) if row is not None else None
