"""Compliance jobs (nightly stage 60, after reports and security at 50; one on-demand report job).

Heavy imports (reportlab, casbin, fsspec backends) happen inside the functions: DAG parsing imports
this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from auralink.jobs import JobContext, job


@job("archive_audit_logs", stage=60)
def archive_audit_logs(ctx: JobContext, retention_days: int = 90, as_of: dt.datetime | None = None,
                       max_partitions: int | None = None) -> dict[str, Any]:
    """Archive audit-log partitions wholly past retention to verified gzip files, then drop them."""
    from auralink.compliance import archival

    return archival.archive_audit_logs(ctx, retention_days=retention_days, as_of=as_of, max_partitions=max_partitions)


@job("apply_retention_policies", stage=60)
def apply_retention_policies(ctx: JobContext, as_of: dt.datetime | None = None,
                             organization_id: str | None = None) -> dict[str, Any]:
    """Apply every enabled data_retention_policies row (delete/anonymize/archive), legal holds first."""
    from auralink.compliance import retention

    return retention.apply_policies(ctx, as_of=as_of, organization_id=organization_id)


@job("process_compliance_requests", stage=60)
def process_compliance_requests(ctx: JobContext, batch_size: int = 20, request_id: str | None = None,
                                refresh_views: bool = True, lock_timeout_seconds: int = 120) -> dict[str, Any]:
    """Carry out pending GDPR/HIPAA requests: exports (JSON/CSV/PDF), erasures, rectifications."""
    from auralink.compliance import requests

    return requests.process_requests(ctx, batch_size=batch_size, request_id=request_id, refresh_views=refresh_views,
                                     lock_timeout_seconds=lock_timeout_seconds)


@job("flag_overdue_compliance_requests", stage=60)
def flag_overdue_compliance_requests(ctx: JobContext, now: dt.datetime | None = None) -> dict[str, Any]:
    """Flag open requests past their (extended) Art. 12(3) deadline; clear flags that no longer apply."""
    from auralink.compliance import requests

    with ctx.connect() as conn:
        stats = requests.flag_overdue(conn, now)
        conn.commit()
    for rid in stats.pop("flagged_ids"):
        ctx.record_item("compliance_request", rid, "succeeded", "flagged overdue")
    return stats


@job("compliance_report")
def compliance_report(ctx: JobContext, organization_id: str = "", standard: str = "GDPR",
                      formats: str = "json,pdf", period_days: int = 90) -> dict[str, Any]:
    """Compliance report for one organization and standard (GDPR, HIPAA, SOC2) as JSON and/or PDF."""
    from auralink.compliance import report

    if not organization_id:
        raise ValueError("compliance_report needs organization_id")
    with ctx.connect() as conn:
        return report.write_report(conn, organization_id, standard,
                                   [f.strip() for f in formats.split(",") if f.strip()], period_days=period_days)
