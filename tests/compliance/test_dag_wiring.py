"""The compliance jobs reach the nightly DAG: a task each, with retries and timeouts, after what they
read or rewrite, and the current-only ones marked so (a backfill skips them)."""

from __future__ import annotations

from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
OURS = {"apply_retention_policies", "archive_audit_logs", "flag_overdue_compliance_requests",
        "process_compliance_requests"}


def test_compliance_tasks_in_the_nightly_dag():
    from airflow.dag_processing.dagbag import DagBag
    from auralink.jobs import get_job

    bag = DagBag(dag_folder=str(DAGS_DIR / "nightly.py"))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags["nightly"]
    for name in OURS:
        t = dag.get_task(name)
        assert t.retries >= 1 and t.execution_timeout is not None
        assert t.upstream_task_ids, f"{name} must wait for what it reads or rewrites"
    upstream = dag.get_task("process_compliance_requests").get_flat_relative_ids(upstream=True)
    assert {"generate_invoices", "generate_due_reports", "detect_security_events", "check_analytics_quality"} <= upstream
    assert "process_compliance_requests" in dag.get_task("flag_overdue_compliance_requests").upstream_task_ids
    assert get_job("process_compliance_requests").current_only and get_job("flag_overdue_compliance_requests").current_only
