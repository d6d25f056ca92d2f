"""analytics_processing: the nightly analytics build (dbt through Cosmos), AI costs, then every later
nightly stage (billing, insights, reports, security, compliance...) registered as jobs."""

from __future__ import annotations

import datetime as dt
import itertools

from airflow.sdk import Asset, TaskGroup, dag, task
from auralink.analytics import dbt_runner
from auralink.jobs import nightly_jobs
from auralink.orchestration import airflow_support
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

DBT_DIR = dbt_runner.project_dir()
# Parsing stays fast: the manifest is written once by `auralink analytics manifest` (image build, CI);
# here it is only checked against the project files' mtimes (a `dbt parse` only when a model changed).
MANIFEST = dbt_runner.ensure_manifest()

VIEW_ASSETS = {name: Asset(name=f"analytics.{name}", uri=f"auralink://analytics/{name}", group="analytics")
               for name in dbt_runner.ANALYTICS_VIEWS}
AI_USAGE_ANALYTICS = Asset(name="public.ai_usage_analytics", uri="auralink://public/ai_usage_analytics",
                           group="analytics")
FIRST_EXTENSION_STAGE = 40
# Great Expectations gates (auralink.quality_gates): on the source tables before dbt, on the marts after
# dbt and the AI costs. A failed blocking check fails its task, so nothing downstream runs (the marts'
# Assets are never announced over bad data). Wired explicitly: they are not in the stage >= 40 groups.
SOURCE_QUALITY_JOB = "check_source_quality"
ANALYTICS_QUALITY_JOB = "check_analytics_quality"

DOC = """
### analytics_processing (daily 02:00 UTC)

0. **check_source_quality** (when registered): Great Expectations gates on the newest source rows
   (volumes, nulls, ranges, freshness against the run's date, references); a failed blocking check
   stops the run before dbt.
1. **dbt** (astronomer-cosmos, rendered from `dbt_project/target/manifest.json`): one task per seed and
   model, each running `dbt build` on its node so its tests gate everything downstream. Staging views,
   incremental daily aggregates, then the marts in schema `analytics` (materialized views
   `daily_usage_summary` and `organization_analytics_summary`, `fct_call_quality`, `monthly_costs`, ...).
2. **ai_usage_costs** upserts `ai_usage_analytics` from the dbt AI-cost mart (Asset `auralink://public/ai_usage_analytics`).
   **check_analytics_quality** (when registered) then gates the marts (MOS 1..4.5, loss 0..1, no negative
   cost, volumes, keys) before `publish_analytics_assets` and every later stage. Results: Data Docs
   (`auralink quality docs`) and the table `data_quality_results`; see docs/data-quality.md.
3. **publish_analytics_assets** checks every view exists (row counts to XCom) and emits one Asset per view
   (`auralink://analytics/<view>`) for downstream DAGs.
4. **Later stages**: one task per registered nightly job with stage >= 40 (`auralink.jobs.nightly_jobs()`),
   grouped by stage; a stage starts when the previous one succeeded, jobs of one stage run in parallel.
   Registering `@job(name, stage=NN)` in `auralink.<domain>.jobs` adds a task here; no DAG edit.

Database: DATABASE_URL or the `auralink_db` connection (AIRFLOW_CONN_AURALINK_DB); dbt gets it as DBT_*
variables at run time. Re-running a date leaves identical rows. Runbook: `dbt_project/README.md`.
"""


def _export_dbt_env(context) -> None:
    """Runs in the worker before each dbt task: the profile reads DBT_* (never stored in the DAG)."""
    dbt_runner.export_dbt_env()


@dag(
    dag_id="analytics_processing",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(retries=2, timeout_minutes=60),
    doc_md=DOC,
    tags=["analytics", "dbt", "nightly"],
)
def analytics_processing():
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=DBT_DIR, manifest_path=MANIFEST, project_name="auralink",
                                     install_dbt_deps=False),
        profile_config=ProfileConfig(profile_name="auralink", target_name="prod",
                                     profiles_yml_filepath=DBT_DIR / "profiles.yml"),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                   exclude=[dbt_runner.NIGHTLY_EXCLUDE], emit_datasets=False,
                                   should_detach_multiple_parents_tests=True),
        operator_args={"pre_execute": _export_dbt_env},
    )

    @task(outlets=list(VIEW_ASSETS.values()))
    def publish_analytics_assets() -> dict[str, int]:
        from auralink.analytics.views import view_row_counts

        return view_row_counts()  # fails when a view is missing; empty views (a new install) are fine

    @task(outlets=[AI_USAGE_ANALYTICS])
    def ai_usage_costs() -> dict:
        return airflow_support.run_job("ai_usage_costs")

    publish, ai_costs = publish_analytics_assets(), ai_usage_costs()
    dbt >> ai_costs
    analytics_done = [publish, ai_costs]

    @task
    def quality_gate(job_name: str) -> dict:
        from auralink.quality_gates.airflow_tasks import run_gate

        return run_gate(job_name)  # fails without retries when a blocking expectation fails

    @task
    def run_nightly_job(job_name: str) -> dict:
        return airflow_support.run_job(job_name)

    registered = {j.name for j in nightly_jobs()}
    if SOURCE_QUALITY_JOB in registered:
        quality_gate.override(task_id=SOURCE_QUALITY_JOB)(SOURCE_QUALITY_JOB) >> dbt
    if ANALYTICS_QUALITY_JOB in registered:
        marts_gate = quality_gate.override(task_id=ANALYTICS_QUALITY_JOB)(ANALYTICS_QUALITY_JOB)
        dbt >> marts_gate
        ai_costs >> marts_gate >> publish
    else:
        dbt >> publish

    previous = analytics_done
    later = [j for j in nightly_jobs() if j.stage >= FIRST_EXTENSION_STAGE]
    for stage, jobs in itertools.groupby(later, key=lambda j: j.stage):
        with TaskGroup(group_id=f"stage_{stage}") as stage_group:
            for job in jobs:
                run_nightly_job.override(task_id=job.name)(job.name)
        previous >> stage_group
        previous = stage_group


analytics_processing()
