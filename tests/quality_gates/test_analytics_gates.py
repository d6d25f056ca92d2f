"""The mart gates (after dbt and the AI costs) pass on what dbt builds from the seed and fail on planted bad
marts; in the DAG a failing gate stops everything downstream (nothing published, no later stage runs) and
the failure is in Data Docs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from auralink.jobs import JobFailed, graph, run_job

from tests.quality_gates.conftest import SEED_NIGHT

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "nightly.py"
# dbt, the AI costs and what runs before them already ran for this night (the fixture built them);
# dag.test() marks the task ids this matches (whole id) as succeeded without running them.
ALREADY_BUILT = r"dbt_build\..+|ai_usage_costs|check_source_quality|summarize_transcripts|analyze_call_quality"


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["nightly"]


def _failed(db) -> set[tuple[str, str | None, str]]:
    return set(db.execute("SELECT table_name, column_name, expectation FROM data_quality_results "
                          "WHERE NOT success AND phase = 'analytics'").fetchall())


def _plant_bad_marts(db) -> None:
    newest_call = "(SELECT call_id FROM analytics.fct_call_quality ORDER BY call_date DESC, call_id LIMIT 1)"
    db.execute(f"UPDATE analytics.fct_call_quality SET avg_mos = 4.8, avg_packet_loss = 1.5 WHERE call_id = {newest_call}")
    db.execute(f"""DELETE FROM analytics.fct_call_quality WHERE call_id = (
                       SELECT call_id FROM analytics.fct_call_quality WHERE call_id <> {newest_call}
                       ORDER BY call_date DESC, call_id LIMIT 1)""")                         # a call gone missing
    db.execute("""UPDATE analytics.monthly_costs SET total_usd = -12.5
                  WHERE (organization_id, month) = (SELECT organization_id, max(month) FROM analytics.monthly_costs
                                                    GROUP BY 1 ORDER BY 1 LIMIT 1)""")
    db.execute("""UPDATE analytics.monthly_costs SET organization_id = gen_random_uuid()
                  WHERE (organization_id, month) = (SELECT organization_id, max(month) FROM analytics.monthly_costs
                                                    GROUP BY 1 ORDER BY 1 DESC LIMIT 1)""")   # an unknown organization
    db.execute("""UPDATE ai_usage_analytics SET list_cost_usd = -0.5
                  WHERE usage_date = (SELECT max(usage_date) FROM ai_usage_analytics)""")


def test_the_mart_gate_runs_after_dbt_and_ai_costs_and_before_what_bills_or_publishes():
    edges = graph.edges("nightly")
    assert {("dbt_build", "check_analytics_quality"), ("ai_usage_costs", "check_analytics_quality"),
            ("check_analytics_quality", "generate_invoices"), ("check_analytics_quality", "generate_due_reports"),
            ("check_analytics_quality", "refresh_cost_insights")} <= edges


def test_mart_gates_pass_on_what_dbt_builds(analytics_url, analytics_db, gx_dir):
    result = run_job("check_analytics_quality", interval=SEED_NIGHT)
    assert result["status"] == "succeeded" and result["checks"] > 50 and result["warnings"] == 0
    tables = {t for (t,) in analytics_db.execute("SELECT DISTINCT table_name FROM data_quality_results WHERE phase = 'analytics'")}
    assert tables == {"analytics.fct_call_quality", "analytics.daily_usage_summary", "analytics.organization_analytics_summary",
                      "analytics.monthly_costs", "analytics.fct_ai_usage_daily", "ai_usage_analytics"}
    assert Path(result["data_docs"]).is_file()


def test_a_call_whose_telemetry_runs_past_the_nights_end_is_not_yet_expected(analytics_url, analytics_db, gx_dir):
    """A call started minutes before midnight whose samples all come after it has no fct_call_quality row
    yet (the model takes participants whose telemetry ended by the night's end; the next night builds it):
    the volume check expects what the model builds, so the night's gate passes."""
    end = SEED_NIGHT.end
    call_id = analytics_db.execute(
        "SELECT q.call_id FROM analytics.fct_call_quality AS q JOIN calls AS c ON c.id = q.call_id "
        "WHERE c.started_at >= %s ORDER BY c.started_at DESC LIMIT 1", (SEED_NIGHT.start,)).fetchone()[0]
    analytics_db.execute("UPDATE calls SET started_at = %s, ended_at = %s WHERE id = %s",
                         (end - dt.timedelta(minutes=5), end + dt.timedelta(minutes=40), call_id))
    analytics_db.execute("UPDATE call_quality_samples SET sampled_at = %s + (sampled_at - (SELECT min(sampled_at) "
                         "FROM call_quality_samples WHERE call_id = %s)) WHERE call_id = %s",
                         (end + dt.timedelta(minutes=1), call_id, call_id))
    analytics_db.execute("DELETE FROM analytics.fct_call_quality WHERE call_id = %s", (call_id,))
    result = run_job("check_analytics_quality", interval=SEED_NIGHT)
    assert result["status"] == "succeeded", _failed(analytics_db)


def test_bad_marts_fail_each_kind_of_check(analytics_url, analytics_db, gx_dir):
    _plant_bad_marts(analytics_db)
    with pytest.raises(JobFailed, match="analytics quality gates failed"):
        run_job("check_analytics_quality", interval=SEED_NIGHT)
    failed = _failed(analytics_db)
    assert {
        ("analytics.fct_call_quality", "avg_mos", "expect_column_values_to_be_between"),          # MOS 1..4.5
        ("analytics.fct_call_quality", "avg_packet_loss", "expect_column_values_to_be_between"),  # loss 0..1
        ("analytics.fct_call_quality", "call_id", "unexpected_rows_expectation"),                 # volume
        ("analytics.monthly_costs", "total_usd", "expect_column_values_to_be_between"),           # no negative cost
        ("analytics.monthly_costs", "organization_id", "unexpected_rows_expectation"),            # referential
        ("ai_usage_analytics", "list_cost_usd", "expect_column_values_to_be_between"),
    } <= failed
    assert len(failed) == 6  # and nothing else


def test_a_failing_mart_gate_stops_everything_downstream(airflow_db, analytics_url, analytics_db, gx_dir):
    analytics_db.execute("""UPDATE analytics.fct_call_quality SET avg_mos = 4.8 WHERE call_id =
                            (SELECT call_id FROM analytics.fct_call_quality ORDER BY call_date DESC, call_id LIMIT 1)""")
    analytics_db.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now()")  # no speech to do
    dag = load_dag()
    for t in dag.tasks:
        t.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC), mark_success_pattern=ALREADY_BUILT)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["check_analytics_quality"] == "failed"
    downstream = dag.get_task("check_analytics_quality").get_flat_relative_ids(upstream=False)
    assert {"generate_invoices", "generate_due_reports", "process_compliance_requests"} <= downstream
    assert {states[t] for t in downstream} == {"upstream_failed"}  # no invoice, no report
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:  # the gate failed: no mart was announced
        announced = {uri for (uri,) in session.query(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
                     .filter(AssetEvent.source_run_id == run.run_id)}
    from auralink.orchestration import lineage

    assert not {u for u in announced if u.startswith(lineage.table_uri("analytics.x")[:-1])}, announced
    assert not analytics_db.execute("SELECT count(*) FROM job_runs WHERE job_name IN "
                                    "('generate_invoices', 'refresh_cost_insights')").fetchone()[0]

    # The failure is in Data Docs: the index links the run, its page names the expectation.
    assert (gx_dir / "data_docs" / "index.html").is_file()
    page = next((gx_dir / "data_docs" / "validations" / "analytics" / "fct_call_quality").rglob("*.html")).read_text()
    assert "expect_column_values_to_be_between" in page and "avg_mos: min_value=1, max_value=4.5" in page


def test_stale_sources_stop_the_dag_before_dbt(airflow_db, seeded_url, seeded_db, gx_dir):
    """Freshness is measured against the run's night: a night ten days after the data's last day fails."""
    dag = load_dag()
    for t in dag.tasks:
        t.retries = 0
    seeded_db.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now()")  # no speech to do
    run = dag.test(logical_date=dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_source_quality"] == "failed"
    downstream = dag.get_task("check_source_quality").get_flat_relative_ids(upstream=False)
    assert {states[t] for t in downstream} == {"upstream_failed"}
    night = seeded_db.execute("SELECT interval_end FROM job_runs WHERE job_name = 'check_source_quality'").fetchone()[0]
    assert night == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    page = next((gx_dir / "data_docs" / "validations" / "source" / "calls").rglob("*.html")).read_text()
    assert "expect_column_max_to_be_between" in page and "freshness" in page


def test_the_mart_gate_sits_between_the_build_and_everything_that_publishes():
    dag = load_dag()
    gate = dag.get_task("check_analytics_quality")
    upstream = gate.get_flat_relative_ids(upstream=True)
    assert {"check_source_quality", "ai_usage_costs", "dbt_build.fct_call_quality_model_build",
            "dbt_build.monthly_costs_model_build", "dbt_build.daily_usage_summary_model_build",
            "dbt_build.organization_analytics_summary_model_build"} <= upstream
    downstream = gate.get_flat_relative_ids(upstream=False)
    assert {"generate_invoices", "refresh_cost_insights", "generate_due_reports", "apply_retention_policies",
            "process_compliance_requests"} <= downstream
    assert "ai_usage_costs" not in downstream  # the AI costs are an input of the gate, not gated by it
    from auralink.orchestration import lineage

    assert {o.uri for o in gate.outlets} >= {lineage.table_uri("analytics.monthly_costs")}  # announced when it passes
