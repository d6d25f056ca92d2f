"""The quality-gate job: runs before dbt (stage 25); a failed blocking check stops the nightly run."""

from __future__ import annotations

from auralink.jobs import JobContext, JobFailed, job


@job("check_source_quality", stage=25)
def check_source_quality(ctx: JobContext, window_days: int = 2) -> dict:
    """Great Expectations gates on the newest days of the source tables, before the analytics build."""
    from auralink.quality_gates.gates import record_results, run_gates

    results = run_gates(ctx.url, window_days)
    record_results(ctx.url, ctx.run_id, results)
    failed = [r for r in results if not r.success]
    for r in failed:
        ctx.log.warning("quality gate %s: %s(%s) failed%s: %s", r.table, r.expectation, r.column or "",
                        "" if r.blocking else " (warning)", r.observed)
    blocking = [r for r in failed if r.blocking]
    if blocking:
        raise JobFailed("quality gates failed: " + "; ".join(f"{r.table}.{r.column or ''} {r.expectation}" for r in blocking))
    return {"checks": len(results), "warnings": len(failed)}
