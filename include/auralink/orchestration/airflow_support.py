"""What every AuraLink DAG shares: default_args, the failure e-mail, and the job-calling task body.

Imported by DAG files at parse time, so it imports nothing heavy (no airflow, no job modules) at
module level.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from auralink import config

log = logging.getLogger(__name__)


def default_args(*, retries: int = 2, timeout_minutes: int = 60) -> dict[str, Any]:
    """Retries with exponential backoff, an execution timeout, and the failure e-mail (SMTP provider)."""
    return {
        "owner": "data-platform",
        "retries": retries,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(minutes=timeout_minutes),
        "on_failure_callback": failure_notifier(),
    }


FAILURE_SUBJECT = "[AuraLink] {{ ti.dag_id }}.{{ ti.task_id }} failed"
FAILURE_BODY = (
    "<p>DAG: {{ ti.dag_id }}<br>Task: {{ ti.task_id }}<br>Run: {{ run_id }}<br>Try: {{ ti.try_number }}<br>"
    "Error: {{ exception }}</p>"
)


def alert_recipients() -> list[str]:
    return [a.strip() for a in (config.env("AURALINK_ALERT_EMAILS") or "").split(",") if a.strip()]


def failure_notifier() -> Any:
    """The SMTP provider's ``SmtpNotifier`` over the SMTP connection (``AURALINK_ALERT_SMTP_CONN_ID``, default
    ``smtp_default``) to the on-call list ``AURALINK_ALERT_EMAILS``; without recipients, a callback that logs
    the failure instead (a DAG must parse on a machine without mail)."""
    recipients = alert_recipients()
    if not recipients:
        return log_failure
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(to=recipients, subject=FAILURE_SUBJECT, html_content=FAILURE_BODY,
                        smtp_conn_id=config.env("AURALINK_ALERT_SMTP_CONN_ID") or "smtp_default")


def log_failure(context: dict[str, Any]) -> None:
    ti = context.get("task_instance") or context.get("ti")
    log.warning("task %s.%s failed (no alert e-mail configured: AURALINK_ALERT_EMAILS): %s",
                getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), context.get("exception"))


def log_failed_items(run_id: int, url: str, limit: int = 200) -> int:
    """Write a run's failed items to the task log (WARNING), so an operator sees which items failed and
    why without opening the database; returns how many failed."""
    from auralink.db.connection import connect

    with connect(url, autocommit=True) as conn:
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


def describe_asset_events(outlets: list[Any]) -> None:
    """Put the run's night on the Asset events its task emits (``extra``), so a consumer knows which night
    the table now holds without asking the producer's run."""
    from airflow.sdk import get_current_context

    from auralink.jobs.interval import from_airflow_context

    context = get_current_context()
    interval = from_airflow_context(context)
    for outlet in outlets:
        context["outlet_events"][outlet].extra.update(
            {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()})


def job_params(job_name: str, dag_params: dict[str, Any]) -> dict[str, Any]:
    """The job's own values among the DAG's Params (``<job>.<parameter>``); unset (None) ones keep the default."""
    prefix = f"{job_name}."
    return {k[len(prefix):]: v for k, v in (dag_params or {}).items() if k.startswith(prefix) and v is not None}


def run_job(job_name: str, **params: Any) -> dict[str, Any]:
    """Task body: run one registered job for the run's night (the day before its logical date), with the
    DAG's Params for it and ``params`` on top; recorded as triggered by Airflow; returns its stats (XCom).

    A current-only job in a past run (a backfill, a cleared run) is skipped, and shows as skipped in the
    grid. Failed items do not fail the task (the batch went on; they are recorded and listed in the log);
    a job-level error does, so Airflow retries it, unless retrying cannot help (a failed quality gate):
    then the task fails at once and everything downstream is ``upstream_failed``.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from auralink.jobs import JobFailed
    from auralink.jobs import run_job as _run_job
    from auralink.jobs.interval import from_airflow_context
    from auralink.orchestration.connections import project_database_url

    context = get_current_context()
    interval = from_airflow_context(context)
    merged = {**job_params(job_name, context.get("params") or {}), **params}
    url = project_database_url()  # the auralink_db connection when defined
    try:
        stats = _run_job(job_name, merged, interval=interval, triggered_by="airflow", url=url)
    except JobFailed as exc:
        if not exc.retryable:
            raise AirflowFailException(str(exc)) from exc
        raise
    log.info("%s for %s: run %s %s", job_name, interval, stats["run_id"], stats["status"])
    if stats["status"] == "skipped":
        raise AirflowSkipException(stats["skipped"])
    if stats["status"] == "partial":
        failed = log_failed_items(stats["run_id"], url)
        log.warning("%s: %d item(s) failed; see above and job_run_items where job_run_id = %s",
                    job_name, failed, stats["run_id"])
    return stats
