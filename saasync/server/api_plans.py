"""Plans across the account (``ApiStore.plans``): pages over every data source, look-up
by uuid, and delete when unused."""

from __future__ import annotations

from saasync.destinations.local.rows import StoredPlan
from saasync.models import Plan
from saasync.server.api_sources import DataSources
from saasync.server.api_sql import Page, Sql, page_of, where_clause


class Plans:
    def __init__(self, sql: Sql, sources: DataSources) -> None:
        self.sql = sql
        self.sources = sources

    def page(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> Page[StoredPlan]:
        where, params = where_clause({"d.uuid": data_source_uuid, "p.external_id": external_id})
        base = (
            "SELECT p.*, d.uuid AS ds_uuid FROM plans p "
            f"JOIN data_sources d ON d.id = p.data_source_id WHERE 1 = 1{where}"
        )
        rows = self.sql.after(base, params, "p.id", after_id, limit)
        plans = [
            StoredPlan(
                r["id"],
                r["uuid"],
                r["ds_uuid"],
                Plan(
                    external_id=r["external_id"],
                    name=r["name"],
                    interval_unit=r["interval_unit"],
                    interval_count=r["interval_count"],
                ),
            )
            for r in rows
        ]
        return page_of(plans, limit, self.sql.count(base, params))

    def by_uuid(self, uuid: str) -> StoredPlan | None:
        ds = self.sources.owner_of("plans", uuid)
        if ds is None:
            return None
        with self.sources.selected(ds):
            return self.sources.local.get_plan_by_uuid(uuid)

    def delete(self, plan_id: int) -> bool:
        """Remove a plan no line or subscription uses; False (nothing removed) otherwise."""
        with self.sql.db.transaction() as conn:
            used = conn.execute(
                "SELECT 1 FROM line_items WHERE plan_id = ? UNION ALL "
                "SELECT 1 FROM subscriptions WHERE plan_id = ? LIMIT 1",
                [plan_id, plan_id],
            ).fetchone()
            if used is not None:
                return False
            conn.execute("DELETE FROM plans WHERE id = ?", [plan_id])
        return True
