"""One night, declared once: the job registry's graph, and the Airflow DAG, the Argo nightly and
`auralink pipeline run` rendered from it carry the same jobs and the same edges."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml
from auralink.jobs import graph, registry

ROOT = Path(__file__).resolve().parents[2]


def airflow_graph(dag_file: str, dag_id: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Jobs and job-to-job edges of a DAG: a task (or a task group) is named after its job."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / dag_file))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags[dag_id]

    def job_of(task_id: str) -> str:
        return task_id.split(".", 1)[0]

    jobs = {job_of(t.task_id) for t in dag.tasks}
    edges = {(job_of(u), job_of(t.task_id)) for t in dag.tasks for u in t.upstream_task_ids
             if job_of(u) != job_of(t.task_id)}
    return jobs, edges


def argo_graph() -> tuple[set[str], set[tuple[str, str]]]:
    doc = yaml.safe_load((ROOT / "workflows" / "nightly.yaml").read_text())
    main = next(t for t in doc["spec"]["templates"] if t["name"] == doc["spec"]["entrypoint"])
    job = {t["name"]: t["name"].replace("-", "_") for t in main["dag"]["tasks"] if t["name"] != "record-start"}
    edges = {(job[d], job[t["name"]]) for t in main["dag"]["tasks"] if t["name"] in job
             for d in re.findall(r"[A-Za-z0-9-]+", t.get("depends", "")) if d in job}
    return set(job.values()), edges


def cli_graph() -> tuple[set[str], set[tuple[str, str]], list[str]]:
    from auralink.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["pipeline", "show", "--json"]) == 0
    shown = json.loads(out.getvalue())
    order = [j["job"] for j in shown]
    return set(order), {(u, j["job"]) for j in shown for u in j["after"]}, order


def test_the_graph_is_valid_and_holds_every_nightly_job():
    graph.validate()
    nightly = {j.name for j in graph.jobs_of("nightly")}
    assert {"ensure_partitions", "transcribe_recordings", "summarize_transcripts", "analyze_call_quality",
            "check_source_quality", "dbt_build", "ai_usage_costs", "check_analytics_quality", "generate_invoices",
            "refresh_cost_insights", "generate_due_reports", "detect_security_events", "archive_audit_logs",
            "apply_retention_policies", "process_compliance_requests", "flag_overdue_compliance_requests"} <= nightly
    assert {j.name for j in graph.jobs_of("recordings")} == {
        "transcribe_recordings", "analyze_call_quality", "summarize_transcripts"}


def test_airflow_argo_and_the_cli_carry_the_same_jobs_and_edges():
    jobs = {j.name for j in graph.jobs_of("nightly")}
    edges = graph.edges("nightly")
    assert airflow_graph("nightly.py", "nightly") == (jobs, edges)
    assert argo_graph() == (jobs, edges)
    cli_jobs, cli_edges, order = cli_graph()
    assert (cli_jobs, cli_edges) == (jobs, edges)
    for upstream, downstream in edges:  # the CLI runs them in topological order
        assert order.index(upstream) < order.index(downstream)


def test_the_recordings_dag_is_the_recordings_part_of_the_graph():
    jobs = {j.name for j in graph.jobs_of("recordings")}
    assert airflow_graph("call_recording_processing.py", "call_recording_processing") == (
        jobs, graph.edges("recordings"))


def test_the_night_reads_what_the_recordings_produced():
    order = [j.name for j in graph.topological("nightly")]
    for upstream in ("transcribe_recordings", "summarize_transcripts"):
        assert order.index(upstream) < order.index("dbt_build")
    assert ("summarize_transcripts", "check_source_quality") in graph.edges("nightly")


def test_a_table_reference_resolves_to_the_job_that_produces_it():
    assert graph.producers()["public.call_summaries"] == "summarize_transcripts"
    assert "transcribe_recordings" in graph.upstream_of(registry.get_job("summarize_transcripts"))


def test_the_current_only_jobs_are_marked():
    current_only = {j.name for j in graph.jobs_of("nightly") if j.current_only}
    assert current_only == {"ensure_partitions", "process_compliance_requests", "flag_overdue_compliance_requests",
                            "send_alerts"}


def test_selection_uses_dbts_graph_operators():
    names = lambda sel, exc=None: [j.name for j in graph.select("nightly", sel, exc)]
    assert names(["dbt_build"]) == ["dbt_build"]
    assert names(["+ai_usage_costs"])[-2:] == ["dbt_build", "ai_usage_costs"]
    assert "transcribe_recordings" in names(["+ai_usage_costs"])
    downstream = names(["check_analytics_quality+"])
    assert downstream[0] == "check_analytics_quality" and "flag_overdue_compliance_requests" in downstream
    assert "dbt_build" not in downstream
    assert "generate_invoices" not in names(None, ["generate_invoices"])


@pytest.mark.parametrize("args", [["pipeline", "show", "--select", "no_such_job"],
                                  ["pipeline", "show", "--select", "dbt_build", "--exclude", "dbt_build"],
                                  ["pipeline", "run", "--select", "dbt_build", "--exclude", "+dbt_build+"],
                                  ["pipeline", "run", "--date", "2026-02-30"]])
def test_a_selection_of_nothing_is_a_usage_error(args, capsys):
    from auralink.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auralink: error:")


def test_cycles_and_unknown_references_are_refused():
    from auralink.jobs import JobContext, job

    @job("zz_cycle_a", stage=99, after=("zz_cycle_b",))
    def a(ctx: JobContext) -> dict:
        return {}

    @job("zz_cycle_b", stage=99, after=("zz_cycle_a",))
    def b(ctx: JobContext) -> dict:
        return {}

    try:
        with pytest.raises(graph.GraphError, match="cycle"):
            graph.topological("nightly")
        registry._JOBS.pop("zz_cycle_b")

        @job("zz_cycle_b", stage=99, after=("public.nothing_makes_this",))
        def c(ctx: JobContext) -> dict:
            return {}

        with pytest.raises(graph.GraphError, match="neither a job nor a table"):
            graph.validate()
    finally:
        registry._JOBS.pop("zz_cycle_a", None)
        registry._JOBS.pop("zz_cycle_b", None)


def test_a_new_job_becomes_a_task_and_a_step_without_editing_a_dag():
    from auralink.jobs import JobContext, job

    @job("zz_new_job", stage=45, after=("generate_invoices",))
    def zz_new_job(ctx: JobContext) -> dict:
        return {}

    try:
        jobs, edges = airflow_graph("nightly.py", "nightly")
        assert "zz_new_job" in jobs and ("generate_invoices", "zz_new_job") in edges
        from workflows.common import Settings
        from workflows.nightly import build

        rendered = yaml.safe_load(build(Settings(image="x")).to_yaml())
        main = next(t for t in rendered["spec"]["templates"] if t["name"] == "main")
        assert {"name": "zz-new-job", "depends": "generate-invoices", "template": "zz-new-job"} in main["dag"]["tasks"]
    finally:
        registry._JOBS.pop("zz_new_job", None)


def test_every_job_parameter_has_a_schema_its_default_satisfies():
    for j in registry.all_jobs():
        for name, schema in j.param_schema().items():
            assert schema, (j.name, name)
            if "default" in schema:
                assert registry.coerce_value(j, name, schema["default"]) == schema["default"], (j.name, name)
