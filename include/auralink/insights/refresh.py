"""Refresh the insights of organizations: upsert what holds now, resolve what no longer does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import psycopg
from psycopg.types.json import Jsonb

from auralink.db.connection import scalar
from auralink.insights.rules import RULES, Insight, org_window
from auralink.insights.settings import InsightSettings


def save(conn: psycopg.Connection, insights: list[Insight], now: dt.datetime) -> tuple[int, int]:
    """Upsert on dedup_key; returns (new, updated). A dismissed or applied insight keeps its status; a
    resolved one that holds again is re-opened."""
    new = updated = 0
    for i in insights:
        inserted = scalar(conn,
            """INSERT INTO cost_optimization_insights (organization_id, insight_type, title, description, evidence,
                                                       estimated_monthly_saving_usd, dedup_key, first_detected_at,
                                                       last_detected_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (dedup_key) DO UPDATE SET
                   insight_type = EXCLUDED.insight_type, title = EXCLUDED.title, description = EXCLUDED.description,
                   evidence = EXCLUDED.evidence, estimated_monthly_saving_usd = EXCLUDED.estimated_monthly_saving_usd,
                   last_detected_at = EXCLUDED.last_detected_at,
                   status = CASE WHEN cost_optimization_insights.status = 'resolved' THEN 'open'
                                 ELSE cost_optimization_insights.status END
               RETURNING (xmax = 0)""",
            (i.organization_id, i.insight_type, i.title, i.description, Jsonb(i.evidence), i.saving_usd, i.dedup_key,
             now, now))
        new += inserted
        updated += not inserted
    return new, updated


def refresh_organization(conn: psycopg.Connection, org: uuid.UUID, as_of: dt.datetime,
                         settings: InsightSettings) -> dict[str, int]:
    """All rules for one organization in one transaction (``conn`` in autocommit mode)."""
    with conn.transaction():
        w = org_window(conn, org, as_of, settings)
        found: list[Insight] = []
        for rule in RULES.values():
            found += rule(conn, w, settings)
        new, updated = save(conn, found, as_of)
        resolved = conn.execute(
            """UPDATE cost_optimization_insights SET status = 'resolved'
               WHERE organization_id = %s AND status = 'open' AND NOT (dedup_key = ANY(%s))""",
            (org, [i.dedup_key for i in found])).rowcount
    return {"found": len(found), "new": new, "updated": updated, "resolved": resolved}


def refresh_all(conn: psycopg.Connection, as_of: dt.datetime, settings: InsightSettings, *, org: str | None = None,
                on_result: Callable[[uuid.UUID, dict[str, int] | None, str | None], None] | None = None) -> dict[str, int]:
    orgs = [uuid.UUID(str(org))] if org else [r[0] for r in conn.execute(
        "SELECT id FROM organizations WHERE deleted_at IS NULL ORDER BY id").fetchall()]
    totals = {"organizations": 0, "found": 0, "new": 0, "updated": 0, "resolved": 0, "failed": 0}
    for org_id in orgs:
        try:
            res = refresh_organization(conn, org_id, as_of, settings)
        except Exception as exc:  # noqa: BLE001 - one organization fails alone
            totals["failed"] += 1
            if on_result:
                on_result(org_id, None, f"{exc.__class__.__name__}: {exc}")
            continue
        totals["organizations"] += 1
        for k, v in res.items():
            totals[k] += v
        if on_result:
            on_result(org_id, res, None)
    return totals
