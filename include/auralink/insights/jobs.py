"""Nightly job: refresh cost-optimization insights as of the night's end."""

from __future__ import annotations

import uuid

from auralink.jobs import JobContext, job


@job("refresh_cost_insights", stage=40, after=("check_analytics_quality",),
     produces=("public.cost_optimization_insights",))
def refresh_cost_insights(ctx: JobContext, org: uuid.UUID | None = None) -> dict:
    """Cost-optimization insights (plan right-sizing, cheaper summary model, idle seats, recordings past
    retention) with evidence and estimated monthly saving; deduplicated across runs."""
    from auralink.insights.refresh import refresh_all
    from auralink.insights.settings import InsightSettings

    as_of = ctx.now
    settings = InsightSettings.from_env()

    def record(org_id, res, error):
        if error:
            ctx.record_item("organization", org_id, "failed", error)
        else:
            ctx.record_item("organization", org_id, "succeeded",
                            f"{res['found']} insight(s), {res['new']} new, {res['resolved']} resolved")

    with ctx.connect(autocommit=True) as conn:
        totals = refresh_all(conn, as_of, settings, org=org, on_result=record)
    return {"as_of": as_of.isoformat(), **totals}
