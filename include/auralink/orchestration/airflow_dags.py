"""Render a pipeline of the job graph (auralink.jobs.graph) as Airflow tasks, inside a DAG being defined.

One task per job, named after it, wired by the graph's edges; two jobs become task groups named after
them: ``dbt_build`` (one task per dbt node through Cosmos, rendered from the manifest) and
``transcribe_recordings`` (a plan task and the transcription mapped over batches, in the transcription
pool). Retries, timeouts and Airflow Params come from each job's declaration; the night's interval from
the run's logical date (auralink.jobs.interval). Imported by DAG files only (it imports Airflow and
Cosmos); building the tasks reads the registry and the dbt manifest, nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, Param, TaskGroup, task
from airflow.timetables.trigger import CronTriggerTimetable

from auralink.jobs import graph
from auralink.jobs.interval import from_airflow_context
from auralink.jobs.registry import Job
from auralink.orchestration import airflow_support, lineage

ASSET_GROUP = "auralink"


def asset(table: str) -> Asset:
    """The Asset of a table the jobs produce (one spelling for every DAG), in Airflow's postgres URI form
    ``postgres://host:port/database/schema/table`` from the configured lineage namespace (not from a
    connection: nothing is looked up at parse time), which OpenLineage maps to ``database.schema.table``."""
    # Named as OpenLineage names the dataset (database.schema.table): name and URI change together, so two
    # deployments (or test databases) never hold one name with two URIs.
    return Asset(name=lineage.dataset_name(table), uri=lineage.table_uri(table), group=ASSET_GROUP)


def published_assets() -> list[Asset]:
    """The Assets the analytics quality gate certifies: a consumer DAG is scheduled on all of them."""
    from auralink.jobs.registry import get_job

    return [asset(t) for t in get_job("check_analytics_quality").certifies]


def publication_task():
    """A task that records, from the Asset events that triggered its run, the night each table holds."""
    tables = published_assets()

    @task(task_id="record_publications", inlets=tables, retries=2)
    def record_publications(triggering_asset_events: Any = None) -> dict:
        from auralink.analytics import publications
        from auralink.orchestration.connections import project_database_url

        found = []
        for event_asset, events in (triggering_asset_events or {}).items():
            for event in events:
                uri = getattr(event_asset, "uri", None) or event.asset.uri
                p = publications.from_event(lineage.table_of_uri(uri), uri, dict(event.extra or {}),
                                            event.source_dag_id, event.source_run_id)
                if p is not None:
                    found.append(p)
        written = publications.record(found, url=project_database_url())
        return {"recorded": written, "tables": sorted({p.table_name for p in found})}

    return record_publications()


def schedule(pipeline: str) -> CronTriggerTimetable:
    """The pipeline's cron as a trigger timetable, explicitly: the logical date is then the trigger time
    whatever ``[scheduler] create_cron_data_intervals`` says, and the night is the UTC day before it."""
    return CronTriggerTimetable(graph.PIPELINES[pipeline].schedule, timezone="UTC")


def night_deadline(pipeline: str) -> Any:
    """Airflow 3's DeadlineAlert for a night still unfinished at ``AURALINK_NIGHTLY_DEADLINE`` (UTC)."""
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    from auralink.alerts.deadline import deadline_after_trigger, night_unfinished

    span = deadline_after_trigger(graph.PIPELINES[pipeline].schedule)
    if span is None:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=span,
                         callback=AsyncCallback(night_unfinished), name=f"{pipeline} unfinished")


def night_vars(data_interval_end: Any = None, logical_date: Any = None, dag_run: Any = None) -> dict[str, str]:
    """The night as dbt vars, for templates: ``{{ night_vars(data_interval_end, logical_date, dag_run) }}``."""
    from auralink.analytics.dbt_runner import interval_vars

    return interval_vars(from_airflow_context({"data_interval_end": data_interval_end, "logical_date": logical_date,
                                               "dag_run": dag_run}))


MACROS = {"night_vars": night_vars}


PARAM_METASCHEMA = "http://json-schema.org/draft-07/schema#"


def params(pipeline: str) -> dict[str, Param]:
    """One Airflow Param per job parameter (``<job>.<parameter>``, a section per job in the trigger form),
    from the job's declared schema: the same types and bounds the CLI and Argo check."""
    out: dict[str, Param] = {}
    for j in graph.topological(pipeline):
        for name, schema in j.param_schema().items():
            schema = dict(schema)
            default = schema.pop("default", None)
            schema.pop("title", None)
            if default is not None and not isinstance(default, (str, int, float, bool)):
                default = str(default)
            # Draft-07: Airflow validates each task's copy of every DAG param against its schema whenever
            # it serializes the DAG (each parse, and each callback of a task ended in the triggerer), and
            # checks the schema against its metaschema first; the default 2020-12 one costs several
            # times more, and made most of the nightly DAG's parse.
            out[f"{j.name}.{name}"] = Param(default, section=j.name, **{"$schema": PARAM_METASCHEMA, **schema})
    return out


def doc_md(pipeline: str, intro: str) -> str:
    """The DAG's documentation: the intro, then every job with what it runs after and what it does."""
    rows = ["| job | runs after | what it does |", "|---|---|---|"]
    for j in graph.topological(pipeline):
        after = ", ".join(graph.upstream_of(j)) or "-"
        note = " *(current night only: skipped in backfills and cleared past runs)*" if j.current_only else ""
        rows.append(f"| `{j.name}` | {after} | {j.help}{note} |")
    return intro.strip() + "\n\n" + "\n".join(rows) + "\n"


def _task_kwargs(j: Job) -> dict[str, Any]:
    return {"retries": j.retries, "execution_timeout": dt.timedelta(minutes=j.timeout_minutes),
            # A skipped current-only job (a backfill) must not skip what runs after it.
            "trigger_rule": "none_failed", "doc_md": j.help}


def job_task(j: Job):
    outlets = [asset(t) for t in (*j.produces, *j.certifies)]

    @task(task_id=j.name, outlets=outlets, **_task_kwargs(j))
    def run() -> dict:
        stats = airflow_support.run_job(j.name)
        airflow_support.describe_asset_events(outlets)  # which night each announced table now holds
        return stats

    return run()


def _transcription_group(j: Job) -> TaskGroup:
    from auralink.recordings import orchestration as rec

    with TaskGroup(group_id=j.name, tooltip=j.help) as group:
        @task(task_id="plan_batches", retries=j.retries)
        def plan_batches(batch_size: int, max_batches: int) -> list[dict]:
            from auralink.orchestration.connections import project_database_url

            return rec.plan_transcription_batches(batch_size, max_batches, url=project_database_url())

        @task(task_id="transcribe_batch", pool=rec.TRANSCRIPTION_POOL, map_index_template="batch {{ batch_label }}",
              **_task_kwargs(j))
        def transcribe_batch(batch: dict) -> dict:
            from airflow.sdk import get_current_context

            get_current_context()["batch_label"] = batch["batch"]  # names the mapped task in the UI
            return airflow_support.run_job(j.name, batch_size=batch["batch_size"], max_batches=1)

        planned = plan_batches(f"{{{{ params['{j.name}.batch_size'] }}}}",
                               f"{{{{ params['{j.name}.max_batches'] }}}}")
        transcribe_batch.expand(batch=planned)
    return group


def dbt_execution_mode() -> str:
    """``watcher`` (default): one ``dbt build`` whose per-model tasks report each model's outcome, so the
    night pays dbt's start-up once, not per model; ``local``: Cosmos's one dbt invocation per task
    (AURALINK_DBT_EXECUTION_MODE=local, e.g. where no triggerer runs the watchers' deferred sensors)."""
    from auralink import config

    mode = (config.env("AURALINK_DBT_EXECUTION_MODE") or "watcher").lower()
    if mode not in ("watcher", "local"):
        raise ValueError(f"AURALINK_DBT_EXECUTION_MODE={mode!r}: use watcher or local")
    return mode


def dbt_task_group(j: Job, select: list[str] | None = None):
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from auralink.analytics import dbt_runner
    from auralink.orchestration.connections import dbt_profile_mapping

    project = dbt_runner.project_dir()
    watcher = dbt_execution_mode() == "watcher"
    vars_ = {name: f"{{{{ night_vars(data_interval_end, logical_date, dag_run)['{name}'] }}}}"
             for name in ("interval_start", "interval_end")}
    group = DbtTaskGroup(
        group_id=j.name,
        project_config=ProjectConfig(dbt_project_path=project, manifest_path=dbt_runner.ensure_manifest(),
                                     project_name="auralink", install_dbt_deps=False),
        # The auralink_db connection through a Cosmos profile mapping (read when a task runs, not at parse).
        profile_config=ProfileConfig(profile_name="auralink", target_name="prod", profile_mapping=dbt_profile_mapping()),
        execution_config=(ExecutionConfig(execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER)
                          if watcher else ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER)),
        # Lineage: with the OpenLineage provider installed, each model task reports its inputs and outputs
        # (Cosmos parses dbt's artifacts); emit_datasets stays off, as Airflow Assets per model would
        # announce marts before check_analytics_quality has passed them (that gate announces them).
        # The watcher's producer runs `dbt build`; its tests report per model after each (Cosmos has no
        # watcher form of BUILD); without it, each task builds its model and tests it (BUILD).
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST,
                                   test_behavior=TestBehavior.AFTER_EACH if watcher else TestBehavior.BUILD,
                                   select=select or [], exclude=[dbt_runner.NIGHTLY_EXCLUDE], emit_datasets=False,
                                   should_detach_multiple_parents_tests=True),
        operator_args={"vars": vars_, "env": {"PGOPTIONS": "-c jit=off", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
                       "append_env": True},
        default_args={"retries": j.retries, "execution_timeout": dt.timedelta(minutes=j.timeout_minutes)},
    )
    if watcher:
        from auralink.orchestration.dbt_watcher import (
            publish_final_events_only,
            start_consumers_in_triggerer,
            watch_only_the_tests_the_build_runs,
        )

        watch_only_the_tests_the_build_runs(group)
        publish_final_events_only(group)
        start_consumers_in_triggerer(group)
    return group


# Jobs the orchestrators split (Job.fan_out): a task group each, named after the job.
RENDERERS = {"recording_batches": _transcription_group, "dbt_nodes": dbt_task_group}


def render(pipeline: str) -> dict[str, Any]:
    """Create the pipeline's tasks in the DAG being defined and wire them; returns job name -> task/group."""
    nodes: dict[str, Any] = {}
    for j in graph.topological(pipeline):
        if j.fan_out in RENDERERS:
            nodes[j.name] = RENDERERS[j.fan_out](j)
        else:
            nodes[j.name] = job_task(j)
    for upstream, downstream in sorted(graph.edges(pipeline)):
        nodes[upstream] >> nodes[downstream]
    from airflow.sdk.definitions._internal.contextmanager import DagContext  # the DAG being defined

    if (dag := DagContext.get_current_dag()) is not None:
        drop_inherited_params(dag)
    return nodes


def drop_inherited_params(dag: Any) -> None:
    """Each task keeps only the Params the DAG does not already give it.

    Airflow copies every DAG Param into each task, and the serialized DAG carries each copy: with a Param
    per job parameter, those copies were most of the DAG that the scheduler, the API server and the
    triggerer load and deserialize (the triggerer again for each deferred task). A task's context takes
    the DAG's Params first and then the task's (``process_params``), so an identical copy changes nothing.
    (That merge then applies a run's conf to the DAG's own Param objects: those of the DAG the task process
    parsed for itself, which no other run reads.)
    """
    def without_source(param: Any) -> dict[str, Any]:
        return {**param.dump(), "source": None}

    given = {name: without_source(dag.params.get_param(name)) for name in dag.params}
    for t in dag.tasks:
        for name in [n for n in t.params if n in given and without_source(t.params.get_param(n)) == given[n]]:
            del t.params[name]
