"""The compliance jobs reach the nightly DAG: analytics_processing adds one task per nightly job of
stage >= 40, so ours sit in its stage_60 group, with retries, after the earlier stages."""

from __future__ import annotations

from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
OURS = {"apply_retention_policies", "archive_audit_logs", "flag_overdue_compliance_requests",
        "process_compliance_requests"}


def test_stage_60_tasks_in_analytics_processing():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "analytics_processing.py"))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags["analytics_processing"]
    tasks = {t.task_id: t for t in dag.tasks if t.task_id.startswith("stage_60.")}
    assert {tid.split(".", 1)[1] for tid in tasks} == OURS
    for t in tasks.values():
        assert t.retries >= 1 and t.execution_timeout is not None
        assert t.upstream_task_ids, f"{t.task_id} must wait for the earlier stages"
