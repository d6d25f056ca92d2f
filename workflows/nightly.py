"""``nightly`` (WorkflowTemplate): the night's job graph, one DAG task per job, for one UTC day.

Rendered from the job registry (auralink.jobs.graph), like the Airflow DAG ``nightly`` and ``auralink
pipeline run``: each job is a step running ``auralink jobs run <job>`` in the project image with its own
retry strategy, timeout and secrets, after the jobs it declares. transcribe-recordings and
summarize-transcripts fan out over pods (as ai-batch-processing and summarization do).

The night: ``-p date=YYYY-MM-DD`` processes that UTC day; without it, the day before the workflow was
created, which for the ``nightly`` CronWorkflow (nightly_cron.py) is its scheduled time. So a past night is
``argo submit --from workflowtemplate/nightly -p date=2026-11-14``. Jobs that make sense only for the
current night record a skip for a past date. Every job parameter is a workflow parameter
(``<job>-<parameter>``, checked against the job's schema by the step itself).
"""

from __future__ import annotations

from auralink.jobs import graph
from hera.workflows import DAG, Parameter, WorkflowTemplate

from workflows.ai_batch_processing import add_transcription_templates
from workflows.common import (
    Settings,
    job_parameter,
    job_parameters,
    job_step,
    parameters,
    record_exit_step,
    record_start_step,
    step_name,
    workflow_defaults,
)
from workflows.summarization import add_summary_templates

NAME = "nightly"
PIPELINE = "nightly"
DESCRIPTION = ("The night's job graph for one UTC day (parameter date, default: the day before the workflow's "
               "creation): partitions, recordings, quality gates, dbt, billing, reports, security, compliance.")
# A night must be over before the next one: past 20 h the run is failed (and recorded as such).
ACTIVE_DEADLINE_SECONDS = 20 * 3600


def _fan_out(settings: Settings, job) -> tuple:
    """The DAG template of a job that fans out over pods, and the arguments its task gets."""
    name = step_name(job.name)
    if job.fan_out == "recording_batches":
        template = add_transcription_templates(settings, name)
        args = {"batch-size": f"{{{{workflow.parameters.{job_parameter(job.name, 'batch_size')}}}}}",
                "max-batches": f"{{{{workflow.parameters.{job_parameter(job.name, 'max_batches')}}}}}"}
    elif job.fan_out == "summary_workers":
        template = add_summary_templates(settings, name)
        args = {"batch-size": f"{{{{workflow.parameters.{job_parameter(job.name, 'batch_size')}}}}}",
                "max-workers": "{{workflow.parameters.summary-workers}}"}
    else:
        return job_step(settings, job), {}
    return template, args


def build(settings: Settings) -> WorkflowTemplate:
    jobs = graph.topological(PIPELINE)
    with WorkflowTemplate(
        name=NAME,
        entrypoint="main",
        arguments=[Parameter(name="date", value="", description="the UTC day to process (YYYY-MM-DD); empty: "
                             "the day before the workflow was created"),
                   *parameters(summary_workers="5"),
                   *(p for j in jobs for p in job_parameters(j))],
        active_deadline_seconds=ACTIVE_DEADLINE_SECONDS,
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as wt:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        steps = {j.name: _fan_out(settings, j) for j in jobs}
        with DAG(name="main"):
            started = start()
            tasks = {name: template(name=step_name(name), arguments=args) for name, (template, args) in steps.items()}
            for name, task in tasks.items():
                if not any(down == name for _, down in graph.edges(PIPELINE)):
                    started >> task
            for upstream, downstream in sorted(graph.edges(PIPELINE)):
                tasks[upstream] >> tasks[downstream]
    return wt
