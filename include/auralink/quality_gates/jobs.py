"""The quality-gate jobs: the source tables before dbt, the marts after dbt and the AI costs (before
anything publishes or bills from them). A failed blocking check fails the job without retries (the data
will not change), so what depends on it never runs; every result is in data_quality_results and in
Data Docs. The analytics gate certifies the marts: Airflow announces their Assets when it passes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from auralink.analytics.dbt_runner import ANALYTICS_SCHEMA, ANALYTICS_VIEWS
from auralink.jobs import JobContext, job

ANALYTICS_TABLES = tuple(f"{ANALYTICS_SCHEMA}.{view}" for view in ANALYTICS_VIEWS)


@job("check_source_quality", stage=25, after=("public.transcriptions", "public.call_summaries"), retries=1)
def check_source_quality(ctx: JobContext, window_days: Annotated[int, Field(ge=1, le=366)] | None = None,
                         max_age_hours: Annotated[float, Field(gt=0)] | None = None) -> dict[str, Any]:
    """Great Expectations gates on the night's source rows (volumes, nulls, ranges, freshness, references), before dbt."""
    return _run(ctx, "source", window_days=window_days, max_age_hours=max_age_hours)


@job("check_analytics_quality", stage=38, after=("dbt_build", "ai_usage_costs"), retries=1,
     certifies=(*ANALYTICS_TABLES, "public.ai_usage_analytics"))
def check_analytics_quality(ctx: JobContext, window_days: Annotated[int, Field(ge=1, le=366)] | None = None) -> dict[str, Any]:
    """Great Expectations gates on the marts dbt built and on ai_usage_analytics (MOS, loss, costs, volumes, keys)."""
    return _run(ctx, "analytics", window_days=window_days)


def _run(ctx: JobContext, phase: str, *, window_days: int | None, max_age_hours: float | None = None) -> dict[str, Any]:
    from auralink.quality_gates.gates import QualityGateFailed, gate_settings, record_results, run_gates

    settings = gate_settings(window_days=window_days, max_age_hours=max_age_hours)
    if settings.window_days < 1 or settings.max_age_hours <= 0:
        raise ValueError("window_days must be >= 1 and max_age_hours > 0")
    end = ctx.interval.end
    # Freshness is a source property: the marts are checked against their sources instead.
    run = run_gates(ctx.url, phase, end=end, window_days=settings.window_days, freshness=phase == "source",
                    max_age_hours=settings.max_age_hours, keep_days=settings.keep_days,
                    run_name=f"{phase}-run{ctx.run_id}" if ctx.run_id is not None else None)
    record_results(ctx.url, ctx.run_id, run.results, run_name=run.run_name)
    for r in run.failed:
        ctx.log.warning("quality gate %s: %s(%s) failed%s: %s", r.table, r.expectation, r.column or "",
                        "" if r.blocking else " (warning)", r.observed)
    ctx.log.info("%s quality gates for %s: %d checks, %d failed (%d blocking); Data Docs: %s", phase, ctx.interval,
                 len(run.results), len(run.failed), len(run.blocking_failures), run.data_docs)
    if run.blocking_failures:
        raise QualityGateFailed(
            f"{phase} quality gates failed: "
            + "; ".join(f"{r.table}.{r.column or ''} {r.expectation}" for r in run.blocking_failures)
            + f" (Data Docs: {run.data_docs})")
    return {"phase": phase, "checks": len(run.results), "warnings": len(run.failed),
            "data_docs": str(run.data_docs), "ge_run_name": run.run_name, "window_end": end.isoformat()}
