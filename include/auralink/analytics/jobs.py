"""Nightly analytics jobs: the dbt build (stage 30) and the AI usage costs (stage 35).

In Airflow the dbt models run as one task per model through Cosmos (dags/analytics_processing.py);
``dbt_build`` is the same build as one job, for `auralink pipeline run`, the CLI and Argo.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from auralink.db.connection import scalar
from auralink.jobs import JobContext, job
from auralink.jobs.registry import JobFailed

# ai_usage_analytics columns written from analytics.fct_ai_usage_daily (natural key first).
_KEY = ("organization_id", "usage_date", "feature", "provider", "model")
_VALUES = ("requests", "units", "input_tokens", "output_tokens", "recorded_cost_usd", "list_cost_usd")


@job("dbt_build", stage=30)
def dbt_build(ctx: JobContext, select: str | None = None, exclude: str | None = "tag:parity",
              full_refresh: bool = False) -> dict[str, Any]:
    """Build the dbt project (seeds, staging, intermediate, marts, tests) into schema analytics."""
    from auralink.analytics.dbt_runner import build

    run = build(url=ctx.url, select=select, exclude=exclude, full_refresh=full_refresh, raise_on_failure=False)
    for failure in run.failures:
        ctx.record_item("dbt_node", failure["unique_id"], "failed", f"{failure['status']}: {failure['message']}")
    if not run.success:
        names = ", ".join(f["unique_id"] for f in run.failures[:10]) or "see the dbt log"
        raise JobFailed(f"dbt build failed: {names}")
    return {"dbt": run.statuses, "dbt_seconds": round(run.seconds, 3)}


@job("ai_usage_costs", stage=35)
def ai_usage_costs(ctx: JobContext, since: dt.date | None = None, lookback_days: int = 3) -> dict[str, Any]:
    """Upsert AI usage and cost per org/day/feature/provider/model into ai_usage_analytics.

    Reads the dbt mart analytics.fct_ai_usage_daily from ``since`` (default: ``lookback_days`` before the
    newest day already written; everything on the first run). Rows whose values did not change are left
    alone (computed_at included), so a re-run changes nothing. Models missing from the price book are
    recorded as failed items (the run is ``partial``) and written with a list cost of 0.
    """
    if lookback_days < 0:
        raise ValueError("lookback_days must be >= 0")
    with ctx.connect() as conn:
        if scalar(conn, "SELECT to_regclass('analytics.fct_ai_usage_daily')") is None:
            raise JobFailed("analytics.fct_ai_usage_daily does not exist: run the dbt build (job dbt_build) first")
        # Two runs at once would upsert the same rows: let the second wait instead of deadlocking.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('auralink.ai_usage_costs'))")
        if since is None:
            newest = scalar(conn, "SELECT max(usage_date) FROM ai_usage_analytics")
            since = newest - dt.timedelta(days=lookback_days) if newest else dt.date(1900, 1, 1)

        for feature, provider, model, events in conn.execute(
            """SELECT feature, provider, model, sum(unpriced_events) FROM analytics.fct_ai_usage_daily
               WHERE usage_date >= %s AND unpriced_events > 0 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", (since,)
        ).fetchall():
            ctx.record_item("ai_price", f"{feature}/{provider}/{model}", "failed",
                            f"{events} usage events since {since} have no price in dbt_project/seeds/ai_price_book.csv")

        columns = ", ".join(_KEY + _VALUES)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUES)
        current = ", ".join(f"t.{c}" for c in _VALUES)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in _VALUES)
        written = conn.execute(
            f"""INSERT INTO ai_usage_analytics AS t ({columns})
                SELECT {columns} FROM analytics.fct_ai_usage_daily WHERE usage_date >= %s
                ORDER BY {", ".join(_KEY)}
                ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {updates}, computed_at = now()
                WHERE ({current}) IS DISTINCT FROM ({incoming})""",
            (since,),
        ).rowcount
        # Keys that no longer have usage in the window (events erased or corrected away).
        removed = conn.execute(
            f"""DELETE FROM ai_usage_analytics t WHERE t.usage_date >= %s AND NOT EXISTS (
                    SELECT 1 FROM analytics.fct_ai_usage_daily m
                    WHERE {" AND ".join(f"m.{c} = t.{c}" for c in _KEY)})""",
            (since,),
        ).rowcount
        total = scalar(conn, "SELECT count(*) FROM ai_usage_analytics WHERE usage_date >= %s", (since,))
        conn.commit()
    return {"since": since.isoformat(), "rows_written": written, "rows_removed": removed, "rows_in_window": total}

