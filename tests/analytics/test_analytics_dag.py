"""The analytics_processing DAG: its shape, the stage >= 40 extension point, and a green dag.test() run
against the real Postgres that changes nothing on a re-run and emits an Asset per view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "analytics_processing.py"


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["analytics_processing"]


def test_schedule_and_house_rules():
    dag = load_dag()
    assert dag.schedule == "0 2 * * *" or getattr(dag.timetable, "_expression", None) == "0 2 * * *"
    assert dag.catchup is False and dag.doc_md and "analytics" in dag.tags
    for t in dag.tasks:
        assert t.retries >= 2 and t.execution_timeout is not None and t.on_failure_callback, t.task_id


def test_dbt_models_are_tasks_gating_the_ai_costs_and_parity_tests_are_not_nightly():
    dag = load_dag()
    ids = set(dag.task_ids)
    for model in ("int_usage_daily", "daily_usage_summary", "organization_analytics_summary", "fct_call_quality",
                  "monthly_costs", "fct_ai_usage_daily"):
        assert f"dbt.{model}_model_build" in ids
    assert not any("assert_monthly_costs_match_billing_function" in i for i in ids)
    ai = dag.get_task("ai_usage_costs")
    assert "dbt.fct_ai_usage_daily_model_build" in ai.get_flat_relative_ids(upstream=True)
    gate = dag.get_task("check_source_quality")  # Great Expectations gates run before any dbt task
    assert "check_source_quality" in dag.get_task("dbt.stg_usage_records_model_build").get_flat_relative_ids(upstream=True)
    assert not gate.upstream_task_ids
    publish = dag.get_task("publish_analytics_assets")
    assert {o.uri for o in publish.outlets} >= {"auralink://analytics/daily_usage_summary",
                                                "auralink://analytics/organization_analytics_summary"}


def test_jobs_with_stage_40_and_later_are_appended_in_stage_order():
    from auralink.jobs import JobContext, job, nightly_jobs, registry

    @job("zz_test_stage_45_job", stage=45)
    def zz_test_stage_45_job(ctx: JobContext) -> dict:
        return {}

    try:
        dag = load_dag()
        later = [j for j in nightly_jobs() if j.stage >= 40]
        task_of = {j.name: dag.get_task(f"stage_{j.stage}.{j.name}") for j in later}
        assert "zz_test_stage_45_job" in task_of
        for j in later:
            upstream = task_of[j.name].get_flat_relative_ids(upstream=True)
            assert {"ai_usage_costs", "publish_analytics_assets"} <= upstream
            for earlier in (e for e in later if e.stage < j.stage):
                assert task_of[earlier.name].task_id in upstream, (earlier.name, j.name)
            for same in (s for s in later if s.stage == j.stage and s.name != j.name):
                assert task_of[same.name].task_id not in upstream  # same stage: parallel
    finally:
        registry._JOBS.pop("zz_test_stage_45_job", None)


def test_dag_runs_green_changes_nothing_on_rerun_and_emits_assets(airflow_db, seeded_url, analytics_snapshot):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from auralink.analytics.dbt_runner import build
    from auralink.jobs import run_job

    # The night before: this date was already processed once.
    build(url=seeded_url)
    run_job("ai_usage_costs", url=seeded_url)
    before = analytics_snapshot(seeded_url)

    dag = load_dag()
    for t in dag.tasks:  # dag.test() waits out retry delays: fail fast here, the failure is reported below
        t.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if run.state != "success":
        with psycopg.connect(seeded_url, autocommit=True) as conn:
            errors = conn.execute("SELECT job_name, error FROM job_runs WHERE status = 'failed'").fetchall()
        pytest.fail(f"DAG run {run.state}: {({k: v for k, v in states.items() if v != 'success'})}; job errors: {errors}")
    assert analytics_snapshot(seeded_url) == before

    with create_session() as session:
        emitted = {uri for (uri,) in session.query(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)}
    assert {f"auralink://analytics/{v}" for v in ("daily_usage_summary", "organization_analytics_summary",
                                                  "fct_call_quality", "monthly_costs")} <= emitted
    assert "auralink://public/ai_usage_analytics" in emitted
