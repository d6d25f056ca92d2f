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
    # Airflow's postgres URI form, from the lineage namespace: what OpenLineage names database.schema.table.
    from auralink.orchestration.lineage import table_uri

    assert {table_uri("analytics.daily_usage_summary"), table_uri("analytics.organization_analytics_summary"),
            table_uri("public.ai_usage_analytics")} <= {o.uri for o in gate.outlets}
    assert all(o.uri.startswith("postgres://") and o.uri.count("/") == 5 for o in gate.outlets)
    # The dbt task group renders the night into every model's vars.
    model = dag.get_task("dbt_build.int_usage_daily_model_build")
    assert set(model.vars) == {"interval_start", "interval_end"} and "night_vars" in model.vars["interval_end"]


def test_dbt_as_one_build_watched_per_model_by_default(monkeypatch):
    """A deployment's default: Cosmos's watcher (one `dbt build`, a task per model that reports its outcome
    and is retried alone), so the night pays dbt's start-up once, not per model."""
    monkeypatch.setenv("AURALINK_DBT_EXECUTION_MODE", "watcher")
    dag = load_dag()
    ids = set(dag.task_ids)
    assert "dbt_build.dbt_producer_watcher" in ids
    for model in ("int_usage_daily", "daily_usage_summary", "monthly_costs", "fct_ai_usage_daily"):
        assert f"dbt_build.{model}.run" in ids and f"dbt_build.{model}.test" in ids
    producer = dag.get_task("dbt_build.dbt_producer_watcher")
    assert set(producer.vars) == {"interval_start", "interval_end"}
    assert "check_source_quality" in producer.upstream_task_ids
    assert "dbt_build.fct_ai_usage_daily.test" in dag.get_task("ai_usage_costs").get_flat_relative_ids(upstream=True)
    # A model's test task waits for the tests the build runs on that model alone: not the parity tests the
    # night excludes (which have no task either), nor a test with several parents (it has its own task).
    assert not any("assert_local_days_match_org_local_date" in i or "assert_monthly_costs_match" in i for i in ids)
    relationships = "relationships_monthly_costs_organization_id__organization_id__ref_stg_organizations_"
    assert f"dbt_build.{relationships}_test" in ids
    monthly = set(producer.tests_per_model["model.auralink.monthly_costs"])
    assert any(u.startswith("test.auralink.not_null_monthly_costs_month.") for u in monthly)
    assert not any("match_billing_function" in u or u.startswith(f"test.auralink.{relationships}") for u in monthly)
    test_tasks = [t for t in dag.tasks if t.task_id.endswith(".test") and getattr(t, "is_test_sensor", False)]
    assert test_tasks and all(t.model_unique_id in producer.tests_per_model for t in test_tasks)
    # Each model's task starts in the triggerer (no worker process to defer from), in the serialized DAG the
    # scheduler reads too; the producer runs on a worker.
    from airflow.serialization.serialized_objects import DagSerialization
    from auralink.orchestration.dbt_watcher import TRIGGER_PATH

    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    for task_id in ("dbt_build.int_usage_daily.run", "dbt_build.monthly_costs.test"):
        task = scheduled.get_task(task_id)
        assert task.start_from_trigger and task.start_trigger_args.trigger_cls == TRIGGER_PATH, task_id
    assert not scheduled.get_task("dbt_build.dbt_producer_watcher").start_from_trigger
    # A task with upstream tasks in the group follows the build: it starts with the run, and its trigger
    # (not the scheduler) waits for those tasks when the node is run alone. The edges stay.
    daily = scheduled.get_task("dbt_build.daily_usage_summary.run")
    assert str(daily.trigger_rule) in ("always", "TriggerRule.ALWAYS")
    assert "dbt_build.int_usage_daily.test" in daily.upstream_task_ids
    follows = dag.get_task("dbt_build.daily_usage_summary.run").start_trigger_args.trigger_kwargs
    assert follows["upstream_task_ids"] == sorted(daily.upstream_task_ids)
    root = scheduled.get_task("dbt_build.stg_usage_records.run")
    assert str(root.trigger_rule) in ("all_success", "TriggerRule.ALL_SUCCESS")
    assert root.upstream_task_ids == {"check_source_quality"}
    assert dag.get_task(root.task_id).start_trigger_args.trigger_kwargs["upstream_task_ids"] == []
    monkeypatch.setenv("AURALINK_DBT_EXECUTION_MODE", "sideways")
    with pytest.raises(Exception, match="AURALINK_DBT_EXECUTION_MODE"):
        load_dag()


def test_job_parameters_are_params_from_the_jobs_schema():
    dag = load_dag()
    batch = dag.params.get_param("transcribe_recordings.batch_size")
    assert batch.value == 50 and batch.schema["minimum"] == 1 and batch.schema["maximum"] == 500
    assert batch.schema["section"] == "transcribe_recordings"  # the trigger form groups a job's parameters


def test_tasks_take_the_dags_params_without_a_copy_each():
    from airflow.sdk.definitions.param import process_params
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_dag()
    assert not any(t.params for t in dag.tasks)  # the serialized DAG carries the Params once
    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert scheduled.params.get_param("transcribe_recordings.batch_size").value == 50
    # A task's context: the DAG's Params, then a run's conf (each task process parses the DAG itself)
    for conf, batch_size in ((None, 50), ({"transcribe_recordings.batch_size": 7}, 7)):
        dag = load_dag()
        plan = dag.get_task("transcribe_recordings.plan_batches")
        assert process_params(dag, plan, conf, suppress_exception=False)["transcribe_recordings.batch_size"] == batch_size


def _sync_consumer_dag() -> None:
    """The Asset-scheduled consumer in the metadata DB (as the dag-processor would put it), so the nightly
    run's Asset events queue a run of it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    folder = DAG_FILE.parent
    bag = BundleDagBag(dag_folder=str(folder / "analytics_published.py"), bundle_path=folder, bundle_name="dags-folder")
    assert bag.import_errors == {}, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)


def test_a_past_logical_date_processes_that_night_and_skips_the_current_only_jobs(airflow_db, seeded_url,
                                                                                  monkeypatch):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    from tests.lineage import events_by_job, openlineage_to_receiver

    Pool.create_or_update_pool("recording_transcription", slots=2, description="tests", include_deferred=False)
    with psycopg.connect(seeded_url, autocommit=True) as conn:  # speech is tested elsewhere: keep this fast
        conn.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now()")
    _sync_consumer_dag()
    dag = load_dag()
    for t in dag.tasks:  # dag.test() waits out retry delays: fail fast here, the failure is reported below
        t.retries = 0
    # Airflow 3.3's dag.test() hands a succeeded run the DAG's DeadlineAlert definitions where it expects
    # their stored ids (the scheduler stores them: the e2e run shows "Deadline: Met"); the deadline has its
    # own tests (tests/alerts/test_deadline.py).
    dag.deadline = None
    with openlineage_to_receiver(monkeypatch) as lineage_receiver:
        run = dag.test(logical_date=dt.datetime(2026, 11, 19, 2, tzinfo=UTC))   # the night of 2026-11-18
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if run.state != "success":
        with psycopg.connect(seeded_url, autocommit=True) as conn:
            errors = conn.execute("SELECT job_name, error FROM job_runs WHERE status = 'failed'").fetchall()
        pytest.fail(f"DAG run {run.state}: {({k: v for k, v in states.items() if v != 'success'})}; job errors: {errors}")
    # Skipped: the current-only jobs, and the transcription's mapped task (no recording to map over).
    assert {k for k, v in states.items() if v == "skipped"} == {
        "ensure_partitions", "process_compliance_requests", "flag_overdue_compliance_requests", "send_alerts",
        "transcribe_recordings.transcribe_batch"}
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        nights = conn.execute("SELECT DISTINCT interval_start, interval_end FROM job_runs").fetchall()
        newest = conn.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0]
    assert nights == [(dt.datetime(2026, 11, 18, tzinfo=UTC), dt.datetime(2026, 11, 19, tzinfo=UTC))]
    assert newest == dt.date(2026, 11, 18)

    # OpenLineage: every dbt model task reported its inputs and outputs, named as the Assets are.
    from auralink.db.connection import libpq_params
    from auralink.orchestration import lineage

    db = libpq_params(seeded_url)
    namespace = f"postgres://{db['host']}:{db['port']}"
    assert lineage.namespace() == namespace  # from DATABASE_URL here; AURALINK_LINEAGE_NAMESPACE in a deployment
    by_job = events_by_job(lineage_receiver)
    complete = {name: next(e for e in reversed(evs) if e["eventType"] == "COMPLETE")
                for name, evs in by_job.items() if any(e["eventType"] == "COMPLETE" for e in evs)}

    def datasets(job: str, side: str) -> set[tuple[str, str]]:
        return {(d["namespace"], d["name"]) for d in complete[f"nightly.{job}"][side]}

    mart = (namespace, f"{db['dbname']}.analytics.daily_usage_summary")
    assert mart in datasets("dbt_build.daily_usage_summary_model_build", "outputs"), complete.get(
        "nightly.dbt_build.daily_usage_summary_model_build")
    assert {(namespace, f"{db['dbname']}.analytics_intermediate.int_usage_daily"),
            (namespace, f"{db['dbname']}.analytics.fct_ai_usage_daily")} <= datasets(
        "dbt_build.daily_usage_summary_model_build", "inputs")
    assert (namespace, f"{db['dbname']}.public.usage_records") in datasets("dbt_build.stg_usage_records_model_build",
                                                                           "inputs")
    # The gate's Assets are the same datasets: Marquez or DataHub join the dbt graph and the DAG's.
    assert mart in datasets("check_analytics_quality", "outputs")
    assert (namespace, lineage.dataset_name("analytics.daily_usage_summary")) == mart

    # The Asset-scheduled consumer records the night each table holds, from the events.
    from airflow.dag_processing.dagbag import DagBag
    from auralink.jobs.registry import get_job

    consumer = DagBag(dag_folder=str(DAG_FILE.parent / "analytics_published.py")).dags["analytics_published"]
    with create_session() as session:
        triggering: dict = {}
        scheduled_on = {a.uri for a in consumer.timetable.asset_condition.objects}
        for event in session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id):
            if event.asset.uri in scheduled_on:  # what Airflow hands the consumer's run
                triggering.setdefault(event.asset, []).append(event)
        result = consumer.get_task("record_publications").python_callable(triggering_asset_events=triggering)
    # ai_usage_analytics has two producers (ai_usage_costs writes it, the gate certifies it): two events, one row.
    assert set(result["tables"]) == set(get_job("check_analytics_quality").certifies), result
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        held = dict(conn.execute("SELECT table_name, interval_end FROM analytics_publications").fetchall())
    assert held["analytics.daily_usage_summary"] == dt.datetime(2026, 11, 19, tzinfo=UTC)

    before = marts(seeded_url)
    again = dag.test(logical_date=dt.datetime(2026, 11, 19, 2, tzinfo=UTC))   # cleared and re-run: same rows
    assert again.state == "success"
    assert marts(seeded_url) == before

    from airflow.models.asset import AssetDagRunQueue
    from auralink.orchestration.lineage import table_uri

    with create_session() as session:
        events = {uri: extra for uri, extra in session.query(AssetModel.uri, AssetEvent.extra)
                  .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)}
        queued = {dag_id for (dag_id,) in session.query(AssetDagRunQueue.target_dag_id)}
    assert {table_uri(f"analytics.{v}") for v in ("daily_usage_summary", "organization_analytics_summary",
                                                  "fct_call_quality", "monthly_costs")} <= set(events)
    assert table_uri("public.ai_usage_analytics") in events
    # Each event names the night the table now holds, and the Asset-scheduled consumer is queued.
    assert events[table_uri("analytics.monthly_costs")]["interval_end"] == "2026-11-19T00:00:00+00:00"
    assert "analytics_published" in queued
