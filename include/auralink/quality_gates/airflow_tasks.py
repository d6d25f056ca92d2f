"""The body of the quality-gate tasks in the analytics DAG (imports Airflow only when a task runs)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_of_from_context(context: Any) -> dt.datetime | None:
    """The run's point in time: the data interval's end, else the logical date, else when the run was due.

    A backfill of an old date is then checked against that date, not against today. Manual runs in
    Airflow 3 may have no logical date; ``run_after`` is when they were triggered.
    """
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_after", None)


def run_gate(job_name: str) -> dict[str, Any]:
    """Run a quality-gate job for the current task. A failed blocking expectation fails the task at once
    (AirflowFailException: the data will not change between retries) and every task downstream is
    ``upstream_failed``; anything else (database unreachable...) fails it normally, so it is retried."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from auralink.jobs import get_job
    from auralink.orchestration import airflow_support
    from auralink.quality_gates.gates import QualityGateFailed

    params: dict[str, Any] = {}
    if "as_of" in get_job(job_name).parameters():
        as_of = as_of_from_context(get_current_context())
        if as_of is not None:
            params["as_of"] = dt.datetime.fromisoformat(str(as_of)) if not isinstance(as_of, dt.datetime) else as_of
    try:
        return airflow_support.run_job(job_name, **params)
    except QualityGateFailed as exc:
        raise AirflowFailException(str(exc)) from exc
