"""Nightly analytics jobs: the dbt build and the AI usage costs.

In Airflow the dbt models run as one task per model through Cosmos (the task group ``dbt_build`` of the
nightly DAG); ``dbt_build`` is the same build as one job, for `auralink pipeline run`, the CLI and Argo.
Both pass the night's interval to dbt as the vars ``interval_start`` / ``interval_end``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from auralink.analytics.dbt_runner import ANALYTICS_SCHEMA, ANALYTICS_VIEWS
from auralink.db.connection import scalar
from auralink.jobs import JobContext, job
from auralink.jobs.registry import JobFailed

# ai_usage_analytics columns written from analytics.fct_ai_usage_daily (natural key first).
_KEY = ("organization_id", "usage_date", "feature", "provider", "model")
_VALUES = ("requests", "units", "input_tokens", "output_tokens", "recorded_cost_usd", "list_cost_usd")


@job("dbt_build", stage=30, after=("check_source_quality",), fan_out="dbt_nodes",
     produces=tuple(f"{ANALYTICS_SCHEMA}.{view}" for view in ANALYTICS_VIEWS))
def dbt_build(ctx: JobContext, select: str | None = None, exclude: str | None = "tag:parity",
              full_refresh: bool = False) -> dict[str, Any]:
    """Build the dbt project (seeds, staging, intermediate, marts, tests) for the night into schema analytics."""
    from auralink.analytics.dbt_runner import build

    run = build(url=ctx.url, interval=ctx.interval, select=select, exclude=exclude, full_refresh=full_refresh,
                raise_on_failure=False)
    for failure in run.failures:
        ctx.record_item("dbt_node", failure["unique_id"], "failed", f"{failure['status']}: {failure['message']}")
    if not run.success:
        names = ", ".join(f["unique_id"] for f in run.failures[:10]) or "see the dbt log"
        raise JobFailed(f"dbt build failed: {names}")
    return {"dbt": run.statuses, "dbt_seconds": round(run.seconds, 3)}


@job("dbt_docs", stage=31, after=("dbt_build",), retries=1, timeout_minutes=30)
def dbt_docs(ctx: JobContext) -> dict[str, Any]:
    """dbt docs generate after the night's build, with the database's real catalog, into the site the Airflow
    UI serves (AURALINK_DBT_DOCS_DIR)."""
    from auralink.analytics.dbt_runner import generate_docs

    return generate_docs(url=ctx.url, interval=ctx.interval)


@job("ai_usage_costs", stage=35, after=("analytics.fct_ai_usage_daily",), produces=("public.ai_usage_analytics",))
def ai_usage_costs(ctx: JobContext, lookback_days: Annotated[int, Field(ge=0, le=3660)] = 3) -> dict[str, Any]:
    """Upsert AI usage and cost per org/day/feature/provider/model into ai_usage_analytics, for the night.

    Reads the dbt mart analytics.fct_ai_usage_daily for the days from ``lookback_days`` before the night to
    its end (every day on the first run, so a cold run for a night builds all history up to it), plus any
    older day the mart rebuilt since this job's last run (late AI events). Rows whose values did not
    change are left alone (computed_at included), so a re-run changes nothing. Models missing from the
    price book are recorded as failed items (the run is ``partial``) and written with a list cost of 0.
    """
    end = ctx.interval.day + dt.timedelta(days=1)  # exclusive: nothing after the night is written
    with ctx.connect() as conn:
        if scalar(conn, "SELECT to_regclass('analytics.fct_ai_usage_daily')") is None:
            raise JobFailed("analytics.fct_ai_usage_daily does not exist: run the dbt build (job dbt_build) first")
        # Two runs at once would upsert the same rows: let the second wait instead of deadlocking.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('auralink.ai_usage_costs'))")
        first_run = scalar(conn, "SELECT NOT EXISTS (SELECT 1 FROM ai_usage_analytics)")
        since = dt.date(1900, 1, 1) if first_run else ctx.interval.start.date() - dt.timedelta(days=lookback_days)
        # Older days whose events arrived late: the mart rebuilt them, so their values differ from ours.
        window = ("(m.usage_date >= %(since)s OR m.max_received_at > coalesce("
                  "(SELECT max(a.source_received_at) FROM ai_usage_analytics a), '-infinity')) AND m.usage_date < %(end)s")
        args = {"since": since, "end": end}

        for feature, provider, model, events in conn.execute(
            f"""SELECT feature, provider, model, sum(unpriced_events) FROM analytics.fct_ai_usage_daily m
               WHERE {window} AND unpriced_events > 0 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", args
        ).fetchall():
            ctx.record_item("ai_price", f"{feature}/{provider}/{model}", "failed",
                            f"{events} usage events up to {ctx.interval.day} have no price in "
                            "dbt_project/seeds/ai_price_book.csv")

        days = [d for (d,) in conn.execute(
            f"SELECT DISTINCT usage_date FROM analytics.fct_ai_usage_daily m WHERE {window}", args).fetchall()]
        columns = ", ".join(_KEY + _VALUES)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUES)
        current = ", ".join(f"t.{c}" for c in _VALUES)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in _VALUES)
        written = conn.execute(
            f"""INSERT INTO ai_usage_analytics AS t ({columns}, source_received_at)
                SELECT {columns}, max_received_at FROM analytics.fct_ai_usage_daily
                WHERE usage_date = ANY(%(days)s) ORDER BY {", ".join(_KEY)}
                ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {updates}, source_received_at = EXCLUDED.source_received_at,
                                                       computed_at = now()
                WHERE ({current}) IS DISTINCT FROM ({incoming})""",
            {"days": days},
        ).rowcount
        # Keys of those days that no longer have usage (events erased or corrected away).
        removed = conn.execute(
            f"""DELETE FROM ai_usage_analytics t WHERE t.usage_date = ANY(%(days)s) AND NOT EXISTS (
                    SELECT 1 FROM analytics.fct_ai_usage_daily m
                    WHERE {" AND ".join(f"m.{c} = t.{c}" for c in _KEY)})""",
            {"days": days},
        ).rowcount
        conn.commit()
    return {"since": since.isoformat(), "through": ctx.interval.day.isoformat(), "days": len(days),
            "rows_written": written, "rows_removed": removed}
