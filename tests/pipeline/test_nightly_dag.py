"""The nightly DAG: rendered from the job graph (dbt as a Cosmos task group, one task per job), green in
dag.test() against the real PostgreSQL for a past logical date, processing exactly that night."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from tests.pipeline.conftest import marts

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "nightly.py"
UTC = dt.UTC


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["nightly"]


def test_schedule_timetable_and_house_rules():
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = load_dag()
    assert isinstance(dag.timetable, CronTriggerTimetable) and dag.timetable._expression == "0 2 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.doc_md and "nightly" in dag.tags
    for t in dag.tasks:
        assert t.retries >= 1 and t.execution_timeout is not None and t.on_failure_callback, t.task_id


def test_dbt_models_are_a_task_group_between_the_gates():
    dag = load_dag()
    ids = set(dag.task_ids)
    for model in ("int_usage_daily", "daily_usage_summary", "organization_analytics_summary", "fct_call_quality",
                  "monthly_costs", "fct_ai_usage_daily"):
        assert f"dbt_build.{model}_model_build" in ids
    assert not any("assert_monthly_costs_match_billing_function" in i for i in ids)  # parity tests: CI only
    assert "dbt_build.fct_ai_usage_daily_model_build" in dag.get_task("ai_usage_costs").get_flat_relative_ids(upstream=True)
    assert "check_source_quality" in dag.get_task("dbt_build.stg_usage_records_model_build").get_flat_relative_ids(
        upstream=True)
    gate = dag.get_task("check_analytics_quality")
    assert {"auralink://analytics/daily_usage_summary", "auralink://analytics/organization_analytics_summary",
            "auralink://public/ai_usage_analytics"} <= {o.uri for o in gate.outlets}
    # The dbt task group renders the night into every model's vars.
    model = dag.get_task("dbt_build.int_usage_daily_model_build")
    assert set(model.vars) == {"interval_start", "interval_end"} and "night_vars" in model.vars["interval_end"]


def test_job_parameters_are_params_from_the_jobs_schema():
    dag = load_dag()
    batch = dag.params.get_param("transcribe_recordings.batch_size")
    assert batch.value == 50 and batch.schema["minimum"] == 1 and batch.schema["maximum"] == 500
    assert batch.schema["section"] == "transcribe_recordings"  # the trigger form groups a job's parameters


def test_a_past_logical_date_processes_that_night_and_skips_the_current_only_jobs(airflow_db, seeded_url):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    Pool.create_or_update_pool("recording_transcription", slots=2, description="tests", include_deferred=False)
    with psycopg.connect(seeded_url, autocommit=True) as conn:  # speech is tested elsewhere: keep this fast
        conn.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now()")
    dag = load_dag()
    for t in dag.tasks:  # dag.test() waits out retry delays: fail fast here, the failure is reported below
        t.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 11, 19, 2, tzinfo=UTC))   # the night of 2026-11-18
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if run.state != "success":
        with psycopg.connect(seeded_url, autocommit=True) as conn:
            errors = conn.execute("SELECT job_name, error FROM job_runs WHERE status = 'failed'").fetchall()
        pytest.fail(f"DAG run {run.state}: {({k: v for k, v in states.items() if v != 'success'})}; job errors: {errors}")
    # Skipped: the current-only jobs, and the transcription's mapped task (no recording to map over).
    assert {k for k, v in states.items() if v == "skipped"} == {
        "ensure_partitions", "process_compliance_requests", "flag_overdue_compliance_requests",
        "transcribe_recordings.transcribe_batch"}
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        nights = conn.execute("SELECT DISTINCT interval_start, interval_end FROM job_runs").fetchall()
        newest = conn.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0]
    assert nights == [(dt.datetime(2026, 11, 18, tzinfo=UTC), dt.datetime(2026, 11, 19, tzinfo=UTC))]
    assert newest == dt.date(2026, 11, 18)

    before = marts(seeded_url)
    again = dag.test(logical_date=dt.datetime(2026, 11, 19, 2, tzinfo=UTC))   # cleared and re-run: same rows
    assert again.state == "success"
    assert marts(seeded_url) == before

    with create_session() as session:
        emitted = {uri for (uri,) in session.query(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)}
    assert {f"auralink://analytics/{v}" for v in ("daily_usage_summary", "organization_analytics_summary",
                                                  "fct_call_quality", "monthly_costs")} <= emitted
    assert "auralink://public/ai_usage_analytics" in emitted
