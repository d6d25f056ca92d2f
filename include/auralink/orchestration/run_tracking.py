"""Orchestrator runs recorded in the system of record: Airflow DAG runs in ``airflow_dag_runs``
(upsert on dag_id + run_id), so analysts see pipeline history beside the data it produced."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from psycopg.types.json import Jsonb

from auralink.db.connection import connect

log = logging.getLogger(__name__)


def record_dag_run(dag_id: str, run_id: str, state: str, *, logical_date: dt.datetime | None = None,
                   conf: dict[str, Any] | None = None, error: str | None = None, url: str | None = None) -> None:
    finished = state in ("success", "failed")
    with connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO airflow_dag_runs (dag_id, run_id, logical_date, state, conf, error, finished_at)
               VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)
               ON CONFLICT (dag_id, run_id) DO UPDATE
                  SET state = EXCLUDED.state, error = EXCLUDED.error,
                      finished_at = COALESCE(EXCLUDED.finished_at, airflow_dag_runs.finished_at)""",
            (dag_id, run_id, logical_date, state, Jsonb(conf or {}), error, finished),
        )


def _from_context(context: dict[str, Any], state: str) -> None:
    dag_run = context.get("dag_run")
    if dag_run is None:
        return
    error = context.get("reason") or (str(context["exception"]) if context.get("exception") else None)
    try:
        record_dag_run(dag_run.dag_id, dag_run.run_id, state, logical_date=getattr(dag_run, "logical_date", None),
                       conf=dict(getattr(dag_run, "conf", None) or {}), error=error)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the pipeline it tracks
        log.error("could not record DAG run %s/%s: %s", dag_run.dag_id, dag_run.run_id, exc)


def on_dag_run_success(context: dict[str, Any]) -> None:
    _from_context(context, "success")


def on_dag_run_failure(context: dict[str, Any]) -> None:
    _from_context(context, "failed")


def dag_callbacks() -> dict[str, Any]:
    """DAG-level callbacks for ``@dag(**dag_callbacks())``."""
    return {"on_success_callback": on_dag_run_success, "on_failure_callback": on_dag_run_failure}
