"""Housekeeping jobs on the schema itself."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

from auralink.db import partitions
from auralink.jobs import JobContext, JobFailed, job

PARTITIONED_TABLES = partitions.PARTITIONED_TABLES


@job("ensure_partitions", stage=10, current_only=True)
def ensure_partitions(ctx: JobContext, months_ahead: Annotated[int, Field(ge=0, le=36)] = 3,
                      lock_timeout_ms: Annotated[int, Field(ge=1, le=5000)] = 150,
                      max_wait_seconds: Annotated[int, Field(ge=0)] = 300) -> dict:
    """Create monthly partitions of audit_logs and usage_records ahead and move rows out of DEFAULT.

    The horizon is ``months_ahead`` past the later of the wall clock and the night's end: the one job
    that follows the clock. It runs for the current night only, so a backfill never recreates a month
    that archival dropped.
    """
    with ctx.connect(autocommit=True) as conn:
        results = partitions.ensure_partitions(
            conn, now=ctx.interval.end, months_ahead=months_ahead, lock_timeout=dt.timedelta(milliseconds=lock_timeout_ms),
            max_wait=dt.timedelta(seconds=max_wait_seconds),
            on_item=lambda name, outcome, reason: ctx.record_item("partition", name, outcome, reason))
    failed = {name: why for out in results.values() for name, why in out.failed.items()}
    if failed:  # DEFAULT still takes every write; fail so the orchestrator retries later
        first = next(iter(failed.values()))
        raise JobFailed(f"{len(failed)} partition(s) not created ({', '.join(failed)}): {first}")
    return {
        "partitions_created": sum(len(o.created) for o in results.values()),
        "rows_moved_from_default": sum(o.rows_moved for o in results.values()),
        "rows_kept_in_default": sum(sum(o.kept_in_default.values()) for o in results.values()),
        "created": [name for o in results.values() for name in o.created],
    }


@job("refresh_analytics_views")
def refresh_analytics_views(ctx: JobContext, schema: str = "analytics") -> dict:
    """Refresh the analytics materialized views (concurrently where they have a unique index)."""
    with ctx.connect() as conn:
        rows = conn.execute("SELECT view_name, refreshed_concurrently, seconds FROM refresh_analytics_views(%s)", (schema,)).fetchall()
        conn.commit()
    return {"views": [{"view": v, "concurrently": c, "seconds": float(s)} for v, c, s in rows]}
