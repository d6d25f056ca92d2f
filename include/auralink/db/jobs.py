"""Housekeeping jobs on the schema itself."""

from __future__ import annotations

import datetime as dt

from auralink.db import partitions
from auralink.db.connection import scalar
from auralink.jobs import JobContext, JobFailed, job

PARTITIONED_TABLES = partitions.PARTITIONED_TABLES


def ensure_partitions_sql(conn, start: dt.date, end: dt.date) -> int:
    """Create the monthly partitions of every partitioned table between two dates."""
    created = 0
    for table in PARTITIONED_TABLES:
        created += scalar(conn, "SELECT ensure_monthly_partitions(%s::regclass, %s, %s)", (table, start, end))
    return created


@job("ensure_partitions", stage=10)
def ensure_partitions(ctx: JobContext, months_ahead: int = 3, now: dt.datetime | None = None,
                      lock_timeout_ms: int = 150, max_wait_seconds: int = 300) -> dict:
    """Create monthly partitions of audit_logs and usage_records ahead and move rows out of DEFAULT.

    The horizon is ``months_ahead`` past the later of the wall clock and ``now`` (the night's interval
    end): the one job that follows the clock, so a re-run of an old night never leaves the present bare.
    """
    if not 0 <= months_ahead <= 36:
        raise ValueError(f"months_ahead must be between 0 and 36, got {months_ahead}")
    if not 1 <= lock_timeout_ms <= 5000:
        raise ValueError(f"lock_timeout_ms must be between 1 and 5000, got {lock_timeout_ms}")
    if max_wait_seconds < 0:
        raise ValueError(f"max_wait_seconds must not be negative, got {max_wait_seconds}")
    with ctx.connect(autocommit=True) as conn:
        results = partitions.ensure_partitions(
            conn, now=now, months_ahead=months_ahead, lock_timeout=dt.timedelta(milliseconds=lock_timeout_ms),
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
