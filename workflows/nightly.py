"""``nightly`` (CronWorkflow): at 02:00 UTC, the batch processing and then the analytics refresh.

The fan-out steps come first (transcription batches, summary workers); then ``auralink pipeline run`` runs
every nightly job in stage order except the recordings stages 20-22 the fan-out steps just ran:
partitions, quality gates, dbt's analytics build and every stage after it (AI costs, invoices, insights,
reports, security, compliance, retention). The pipeline step is
retried once only: a retry runs every job again.

Self-contained (the templates are built by the same functions as ai-batch-processing and summarization),
so it needs no WorkflowTemplate installed beside it and always runs the image it was generated with.
concurrencyPolicy Forbid: a night that overruns is never joined by the next one. startingDeadlineSeconds:
a run missed (controller down) starts late within the hour, else waits for the next night; the jobs are
claim-based, so the next night picks up everything left.
"""

from __future__ import annotations

from hera.workflows import DAG, CronWorkflow

from workflows.ai_batch_processing import add_batch_templates
from workflows.common import (
    Settings,
    auralink_step,
    encryption_key_env,
    llm_env,
    parameters,
    record_exit_step,
    record_start_step,
    workflow_defaults,
)
from workflows.summarization import add_summary_templates

NAME = "nightly"
DESCRIPTION = ("Nightly at 02:00 UTC: transcribe and summarize pending work in parallel, then the analytics "
               "refresh (dbt) and the later nightly jobs.")
SCHEDULE = "0 2 * * *"
STARTING_DEADLINE_SECONDS = 3600


def build(settings: Settings) -> CronWorkflow:
    with CronWorkflow(
        name=NAME,
        schedules=[SCHEDULE],
        timezone="UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=7,
        entrypoint="main",
        arguments=parameters(batch_size="50", max_batches="40", summary_batch_size="20", summary_workers="5"),
        # A night must be over before the next one: past 20 h the run is failed (and recorded as such).
        active_deadline_seconds=20 * 3600,
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as cw:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        process = add_batch_templates(settings)
        summarize = add_summary_templates(settings)
        pipeline = auralink_step(settings, "nightly-pipeline", ["pipeline", "run", "--triggered-by", "argo", "--skip-stage", "20", "--skip-stage", "21", "--skip-stage", "22"],
                                 extra_env=[*encryption_key_env(), *llm_env()], retries=1, timeout="4h")
        with DAG(name="main"):
            (
                start()
                >> process(arguments={"batch-size": "{{workflow.parameters.batch-size}}",
                                      "max-batches": "{{workflow.parameters.max-batches}}"})
                >> summarize(arguments={"batch-size": "{{workflow.parameters.summary-batch-size}}",
                                        "max-workers": "{{workflow.parameters.summary-workers}}"})
                >> pipeline()
            )
    return cw
