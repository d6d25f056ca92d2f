"""The mart gates (after dbt and the AI costs) pass on what dbt builds from the seed and fail on planted bad
marts; in the DAG a failing gate stops everything downstream (nothing published, no later stage runs) and
the failure is in Data Docs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from auralink.jobs import JobFailed, nightly_jobs, run_job

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "analytics_processing.py"
# dbt, the AI costs and the source gate already ran for this night (the fixture built them); dag.test()
# marks the task ids this matches (whole id) as succeeded without running them.
ALREADY_BUILT = r"dbt\..+|ai_usage_costs|check_source_quality"


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["analytics_processing"]


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


def test_stage_38_runs_after_dbt_and_ai_costs_in_the_pipeline():
    stages = {j.name: j.stage for j in nightly_jobs()}
    assert stages["dbt_build"] < stages["ai_usage_costs"] < stages["check_analytics_quality"] == 38
    assert all(s >= 40 for name, s in stages.items() if s > 38)


def test_mart_gates_pass_on_what_dbt_builds(analytics_url, analytics_db, gx_dir):
    result = run_job("check_analytics_quality")
    assert result["status"] == "succeeded" and result["checks"] > 50 and result["warnings"] == 0
    tables = {t for (t,) in analytics_db.execute("SELECT DISTINCT table_name FROM data_quality_results WHERE phase = 'analytics'")}
    assert tables == {"analytics.fct_call_quality", "analytics.daily_usage_summary", "analytics.organization_analytics_summary",
                      "analytics.monthly_costs", "analytics.fct_ai_usage_daily", "ai_usage_analytics"}
    assert Path(result["data_docs"]).is_file()


def test_bad_marts_fail_each_kind_of_check(analytics_url, analytics_db, gx_dir):
    _plant_bad_marts(analytics_db)
    with pytest.raises(JobFailed, match="analytics quality gates failed"):
        run_job("check_analytics_quality")
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
    dag = load_dag()
    for t in dag.tasks:
        t.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC), mark_success_pattern=ALREADY_BUILT)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["check_analytics_quality"] == "failed"
    downstream = dag.get_task("check_analytics_quality").get_flat_relative_ids(upstream=False)
    assert "publish_analytics_assets" in downstream and any(t.startswith("stage_40.") for t in downstream)
    assert {states[t] for t in downstream} == {"upstream_failed"}  # no Asset announced, no invoice, no report
    assert not analytics_db.execute("SELECT count(*) FROM job_runs WHERE job_name IN "
                                    "('generate_invoices', 'refresh_cost_insights')").fetchone()[0]

    # The failure is in Data Docs: the index links the run, its page names the expectation.
    assert (gx_dir / "data_docs" / "index.html").is_file()
    page = next((gx_dir / "data_docs" / "validations" / "analytics" / "fct_call_quality").rglob("*.html")).read_text()
    assert "expect_column_values_to_be_between" in page and "avg_mos: min_value=1, max_value=4.5" in page


def test_stale_sources_stop_the_dag_before_dbt(airflow_db, seeded_url, seeded_db, gx_dir):
    """Freshness is measured against the run's date: a night ten days after the data's last day fails."""
    dag = load_dag()
    for t in dag.tasks:
        t.retries = 0
    run = dag.test(logical_date=dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_source_quality"] == "failed"
    assert {s for t, s in states.items() if t != "check_source_quality"} == {"upstream_failed"}
    as_of = seeded_db.execute("SELECT params->>'as_of' FROM job_runs WHERE job_name = 'check_source_quality'").fetchone()[0]
    assert as_of.startswith("2026-12-01")
    page = next((gx_dir / "data_docs" / "validations" / "source" / "calls").rglob("*.html")).read_text()
    assert "expect_column_max_to_be_between" in page and "freshness" in page


def test_the_mart_gate_sits_between_the_build_and_everything_that_publishes():
    dag = load_dag()
    gate = dag.get_task("check_analytics_quality")
    upstream = gate.get_flat_relative_ids(upstream=True)
    assert {"check_source_quality", "ai_usage_costs", "dbt.fct_call_quality_model_build", "dbt.monthly_costs_model_build",
            "dbt.daily_usage_summary_model_build", "dbt.organization_analytics_summary_model_build"} <= upstream
    downstream = gate.get_flat_relative_ids(upstream=False)
    assert "publish_analytics_assets" in downstream
    assert {f"stage_{j.stage}.{j.name}" for j in nightly_jobs() if j.stage >= 40} <= downstream
    assert "ai_usage_costs" not in downstream  # the AI costs are an input of the gate, not gated by it
