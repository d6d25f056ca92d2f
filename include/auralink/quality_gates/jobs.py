"""The quality-gate jobs: the source tables before dbt (stage 25), the marts after dbt and the AI costs
(stage 38, before anything publishes or bills from them). A failed blocking check fails the job, so the
nightly run stops there; every result is in data_quality_results and in Data Docs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auralink.jobs import JobContext, job


@job("check_source_quality", stage=25)
def check_source_quality(ctx: JobContext, window_days: int | None = None, as_of: dt.datetime | None = None,
                         max_age_hours: float | None = None) -> dict[str, Any]:
    """Great Expectations gates on the newest source rows (volumes, nulls, ranges, freshness, references), before dbt."""
    return _run(ctx, "source", window_days=window_days, as_of=as_of, max_age_hours=max_age_hours)


@job("check_analytics_quality", stage=38)
def check_analytics_quality(ctx: JobContext, window_days: int | None = None) -> dict[str, Any]:
    """Great Expectations gates on the marts dbt built and on ai_usage_analytics (MOS, loss, costs, volumes, keys)."""
    return _run(ctx, "analytics", window_days=window_days)


def _run(ctx: JobContext, phase: str, *, window_days: int | None, as_of: dt.datetime | None = None,
         max_age_hours: float | None = None) -> dict[str, Any]:
    from auralink.quality_gates.gates import (
        QualityGateFailed,
        gate_settings,
        record_results,
        resolve_as_of,
        run_gates,
    )

    settings = gate_settings(window_days=window_days, max_age_hours=max_age_hours)
    if settings.window_days < 1 or settings.max_age_hours <= 0:
        raise ValueError("window_days must be >= 1 and max_age_hours > 0")
    # Freshness is a source property: the marts are checked against their sources instead.
    when = resolve_as_of(as_of, settings.as_of) if phase == "source" else None
    run = run_gates(ctx.url, phase, window_days=settings.window_days, as_of=when,
                    max_age_hours=settings.max_age_hours, keep_days=settings.keep_days,
                    run_name=f"{phase}-run{ctx.run_id}" if ctx.run_id is not None else None)
    record_results(ctx.url, ctx.run_id, run.results, run_name=run.run_name)
    for r in run.failed:
        ctx.log.warning("quality gate %s: %s(%s) failed%s: %s", r.table, r.expectation, r.column or "",
                        "" if r.blocking else " (warning)", r.observed)
    ctx.log.info("%s quality gates: %d checks, %d failed (%d blocking); Data Docs: %s", phase, len(run.results),
                 len(run.failed), len(run.blocking_failures), run.data_docs)
    if run.blocking_failures:
        raise QualityGateFailed(
            f"{phase} quality gates failed: "
            + "; ".join(f"{r.table}.{r.column or ''} {r.expectation}" for r in run.blocking_failures)
            + f" (Data Docs: {run.data_docs})")
    stats: dict[str, Any] = {"phase": phase, "checks": len(run.results), "warnings": len(run.failed),
                             "data_docs": str(run.data_docs), "ge_run_name": run.run_name}
    if when is not None:
        stats["as_of"] = when.isoformat()
    return stats
