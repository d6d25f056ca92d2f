"""Nightly job: generate the custom reports due by the night's end."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from auralink.jobs import JobContext, job


@job("generate_due_reports", stage=50, after=("check_analytics_quality", "public.call_quality_reports"),
     produces=("public.report_runs",))
def generate_due_reports(ctx: JobContext, report_id: uuid.UUID | None = None,
                         workers: Annotated[int, Field(ge=1, le=32)] = 2) -> dict:
    """Custom reports due by their cron (organization time zone) up to the night's end, once per tick;
    ``workers`` processes render them (1: in this process)."""
    from auralink.reports.runner import ReportOutcome, run_due_reports

    now = ctx.now
    counts = {"succeeded": 0, "failed": 0, "not_due": 0}

    def record(o: ReportOutcome) -> None:
        counts[o.status] = counts.get(o.status, 0) + 1
        if o.status == "succeeded":
            ctx.record_item("report", o.report_id, "succeeded", f"{o.rows} rows: {', '.join(o.outputs or {})}")
        elif o.status == "failed":
            ctx.record_item("report", o.report_id, "failed", o.error)

    with ctx.connect(autocommit=True) as conn:
        run_due_reports(conn, now, report_id=report_id, on_outcome=record, workers=workers, url=ctx.url)
    return {"reports": counts}
