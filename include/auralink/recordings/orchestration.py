"""Task bodies for the ``call_recording_processing`` DAG (kept here so the DAG file stays thin).

Each task runs a registered job (recorded in job_runs / job_run_items) and then writes every failed
item into the task log, so an operator sees which recordings failed and why without opening the
database.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("auralink.recordings")

TRANSCRIPTION_POOL = "recording_transcription"
TRANSCRIPTION_POOL_SLOTS = 2


def plan_transcription_batches(batch_size: int | str = 50, max_batches: int | str = 20) -> list[dict[str, int]]:
    """Batch descriptors to map the transcription task over (one per ``batch_size`` pending recordings)."""
    from auralink.db.connection import connect
    from auralink.recordings.transcribe import pending_batches

    with connect(autocommit=True) as conn:
        batches = pending_batches(conn, int(batch_size), int(max_batches))
    log.info("planned %d transcription batch(es) of up to %s recordings", len(batches), batch_size)
    return batches


def log_failed_items(run_id: int, limit: int = 200) -> int:
    """Write the run's failed items to the log (WARNING); returns how many failed."""
    from auralink.db.connection import connect

    with connect(autocommit=True) as conn:
        rows = conn.execute("SELECT item_type, item_id, reason FROM job_run_items WHERE job_run_id = %s "
                            "AND outcome = 'failed' ORDER BY id LIMIT %s", (run_id, limit)).fetchall()
        counted = conn.execute("SELECT count(*) FROM job_run_items WHERE job_run_id = %s AND outcome = 'failed'",
                               (run_id,)).fetchone()
    total = int(counted[0]) if counted else 0
    for item_type, item_id, reason in rows:
        log.warning("FAILED %s %s: %s", item_type, item_id, reason)
    if total > len(rows):
        log.warning("... and %d more failed items (job_run_items, job_run_id=%s)", total - len(rows), run_id)
    return total


def run_and_report(job_name: str, **params: Any) -> dict[str, Any]:
    """Run a job as an Airflow task: its stats go to XCom, its failed items to the task log.

    Failed items do not fail the task (the batch went on; the items are recorded and retried by the next
    run); a job-level error does, so Airflow retries it.
    """
    from auralink.orchestration.airflow_support import run_job

    stats = run_job(job_name, **params)
    failed = log_failed_items(stats["run_id"]) if stats.get("status") == "partial" else 0
    log.info("%s: run %s %s, %s", job_name, stats["run_id"], stats["status"],
             {k: v for k, v in stats.items() if k not in ("run_id", "status")})
    if failed:
        log.warning("%s: %d item(s) failed; see above and job_run_items where job_run_id = %s",
                    job_name, failed, stats["run_id"])
    return stats
