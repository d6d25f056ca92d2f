"""Nightly job: generate the custom reports that are due."""

from __future__ import annotations

import datetime as dt

from auralink.jobs import JobContext, job


@job("generate_due_reports", stage=50)
def generate_due_reports(ctx: JobContext, now: dt.datetime | None = None, report_id: str | None = None) -> dict:
    """Custom reports due by their cron (organization time zone), once per tick, in CSV/JSON/PDF."""
    from auralink.reports.runner import ReportOutcome, run_due_reports

    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    counts = {"succeeded": 0, "failed": 0, "not_due": 0}

    def record(o: ReportOutcome) -> None:
        counts[o.status] = counts.get(o.status, 0) + 1
        if o.status == "succeeded":
            ctx.record_item("report", o.report_id, "succeeded", f"{o.rows} rows: {', '.join(o.outputs or {})}")
        elif o.status == "failed":
            ctx.record_item("report", o.report_id, "failed", o.error)

    with ctx.connect(autocommit=True) as conn:
        run_due_reports(conn, now, report_id=report_id, on_outcome=record)
    return {"reports": counts}
