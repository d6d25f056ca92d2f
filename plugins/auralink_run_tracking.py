"""Records every DAG run and task outcome in the project's database (airflow_dag_runs, airflow_task_runs).

Thin on purpose: the listener and its rules (never slow or fail a task) live in
auralink.orchestration.run_tracking; see docs/run-tracking.md. Airflow loads this file from
AIRFLOW__CORE__PLUGINS_FOLDER in the scheduler, api-server, dag-processor and every task process.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from auralink.orchestration import run_tracking


class AuraLinkRunTrackingPlugin(AirflowPlugin):
    name = "auralink_run_tracking"
    listeners = [run_tracking]  # noqa: RUF012 - AirflowPlugin's attribute, read once at load
