"""Housekeeping jobs on the schema itself."""

from __future__ import annotations

import datetime as dt

from auralink.db.connection import scalar
from auralink.jobs import JobContext, job

PARTITIONED_TABLES = ("audit_logs", "usage_records")


def ensure_partitions_sql(conn, start: dt.date, end: dt.date) -> int:
    """Create the monthly partitions of every partitioned table between two dates."""
    created = 0
    for table in PARTITIONED_TABLES:
        created += scalar(conn, "SELECT ensure_monthly_partitions(%s::regclass, %s, %s)", (table, start, end))
    return created


@job("ensure_partitions", stage=10)
def ensure_partitions(ctx: JobContext, months_ahead: int = 3) -> dict:
    """Create monthly partitions of audit_logs and usage_records for this month and the next ones."""
    today = dt.datetime.now(dt.UTC).date()
    end = (today.replace(day=1) + dt.timedelta(days=32 * months_ahead)).replace(day=1)
    with ctx.connect() as conn:
        created = ensure_partitions_sql(conn, today.replace(day=1), end)
        conn.commit()
    return {"partitions_created": created}


@job("refresh_analytics_views")
def refresh_analytics_views(ctx: JobContext, schema: str = "analytics") -> dict:
    """Refresh the analytics materialized views (concurrently where they have a unique index)."""
    with ctx.connect() as conn:
        rows = conn.execute("SELECT view_name, refreshed_concurrently, seconds FROM refresh_analytics_views(%s)", (schema,)).fetchall()
        conn.commit()
    return {"views": [{"view": v, "concurrently": c, "seconds": float(s)} for v, c, s in rows]}
