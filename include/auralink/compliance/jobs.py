"""Compliance jobs: archival, retention, GDPR/HIPAA requests, overdue flags (one on-demand report job).

Archival and retention are "as of" the night's end, so a past night re-run keeps and deletes what it did.
Processing requests and flagging overdue ones are current-only: a past night skips them (a past "now"
would clear today's flags, and requests are carried out once, when they are due).

Heavy imports (reportlab, casbin, fsspec backends) happen inside the functions: DAG parsing imports
this module.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import Field

from auralink.jobs import JobContext, job

# What the night reads or writes before retention and requests may delete or rewrite it.
READERS = ("generate_invoices", "refresh_cost_insights", "generate_due_reports", "detect_security_events")


@job("archive_audit_logs", stage=60, after=("ensure_partitions", "detect_security_events"),
     produces=("public.audit_log_archives",))
def archive_audit_logs(ctx: JobContext, retention_days: Annotated[int, Field(ge=1, le=36500)] = 90,
                       max_partitions: Annotated[int, Field(ge=1)] | None = None,
                       workers: Annotated[int, Field(ge=1, le=8)] = 3) -> dict[str, Any]:
    """Archive audit-log partitions wholly past retention to verified zstd CSV files, then drop them
    (``workers`` months at a time, each on its own connection)."""
    from auralink.compliance import archival

    return archival.archive_audit_logs(ctx, retention_days=retention_days, as_of=ctx.now,
                                       max_partitions=max_partitions, workers=workers)


@job("apply_retention_policies", stage=60, after=READERS, produces=("public.retention_runs",),
     secrets=("secret_key",))
def apply_retention_policies(ctx: JobContext, organization_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Apply every enabled data_retention_policies row (delete/anonymize/archive), legal holds first."""
    from auralink.compliance import retention

    return retention.apply_policies(ctx, as_of=ctx.now, organization_id=str(organization_id) if organization_id else None)


@job("process_compliance_requests", stage=60, after=(*READERS, "check_analytics_quality"), current_only=True,
     parallel=True, secrets=("secret_key",), timeout_minutes=180)
def process_compliance_requests(ctx: JobContext, batch_size: Annotated[int, Field(ge=1, le=1000)] = 20,
                                request_id: uuid.UUID | None = None, refresh_views: bool = True,
                                lock_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 120) -> dict[str, Any]:
    """Carry out pending GDPR/HIPAA requests: exports (JSON/CSV/PDF), erasures, rectifications."""
    from auralink.compliance import requests

    return requests.process_requests(ctx, batch_size=batch_size, request_id=str(request_id) if request_id else None,
                                     refresh_views=refresh_views,
                                     lock_timeout_seconds=lock_timeout_seconds)


@job("flag_overdue_compliance_requests", stage=60, after=("process_compliance_requests",), current_only=True)
def flag_overdue_compliance_requests(ctx: JobContext) -> dict[str, Any]:
    """Flag open requests past their (extended) Art. 12(3) deadline; clear flags that no longer apply."""
    from auralink.compliance import requests

    with ctx.connect() as conn:
        stats = requests.flag_overdue(conn, ctx.now)
        conn.commit()
    for rid in stats.pop("flagged_ids"):
        ctx.record_item("compliance_request", rid, "succeeded", "flagged overdue")
    return stats


@job("compliance_report")
def compliance_report(ctx: JobContext, organization_id: uuid.UUID | None = None, standard: str = "GDPR",
                      formats: str = "json,pdf", period_days: Annotated[int, Field(ge=1, le=3660)] = 90) -> dict[str, Any]:
    """Compliance report for one organization and standard (GDPR, HIPAA, SOC2) as JSON and/or PDF."""
    from auralink.compliance import report

    if not organization_id:
        raise ValueError("compliance_report needs organization_id")
    with ctx.connect() as conn:
        return report.write_report(conn, str(organization_id), standard,
                                   [f.strip() for f in formats.split(",") if f.strip()], period_days=period_days)
