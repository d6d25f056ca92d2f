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
