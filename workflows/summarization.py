"""``summarization`` (WorkflowTemplate): summarize transcripts in parallel, bounded by an LLM semaphore.

select-transcripts asks Postgres how many transcripts still need a summary and prints one JSON item per
batch; each summarize-batch step claims its own transcripts (``FOR UPDATE SKIP LOCKED`` in the job) and
records token usage and cost in ai_usage. Every summarize-batch pod holds one slot of the ConfigMap
semaphore ``auralink-llm-limits/summarize``, shared by every workflow in the namespace, so the provider's
rate limit is respected however many workflows run.
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, Resources, WorkflowTemplate

from workflows.common import (
    LIGHT_RESOURCES,
    Settings,
    auralink_step,
    job_args,
    llm_env,
    llm_semaphore,
    parameters,
    record_exit_step,
    record_start_step,
    workflow_defaults,
)

NAME = "summarization"
DESCRIPTION = "Summarize transcripts in parallel batches; a ConfigMap semaphore bounds concurrent LLM calls."
INPUTS = ("batch-size", "max-batches")
# Waiting on the LLM, not computing: half a CPU is plenty; the offline fallback stays well under 1 GiB.
SUMMARIZE_RESOURCES = Resources(cpu_request="500m", cpu_limit="1", memory_request="1Gi", memory_limit="1Gi")


def add_summary_templates(settings: Settings) -> DAG:
    """Templates and the ``summarize`` DAG (inputs ``batch-size``, ``max-batches``); call in a workflow context."""
    select = auralink_step(
        settings, "select-transcripts",
        ["recordings", "pending-summaries", "--batch-size", "{{inputs.parameters.batch-size}}",
         "--max-batches", "{{inputs.parameters.max-batches}}"],
        inputs=[Parameter(name=n) for n in INPUTS],
        resources=LIGHT_RESOURCES,
    )
    summarize = auralink_step(
        settings, "summarize-batch",
        job_args("summarize_transcripts", batch_size="{{inputs.parameters.batch-size}}", max_batches="1"),
        inputs=[Parameter(name="batch"), Parameter(name="batch-size")],
        resources=SUMMARIZE_RESOURCES,
        extra_env=llm_env(),
        synchronization=llm_semaphore(),
        timeout="1h",
    )
    with DAG(name="summarize", inputs=[Parameter(name=n) for n in INPUTS]) as dag:
        selected = select(arguments={n: f"{{{{inputs.parameters.{n}}}}}" for n in INPUTS})
        selected >> summarize(
            arguments={"batch": "{{item.batch}}", "batch-size": "{{item.batch_size}}"},
            with_param=selected.result,
        )
    return dag


def build(settings: Settings) -> WorkflowTemplate:
    with WorkflowTemplate(
        name=NAME,
        entrypoint="main",
        arguments=parameters(batch_size="20", max_batches="50"),
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as wt:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        summarize = add_summary_templates(settings)
        with DAG(name="main"):
            start() >> summarize(arguments={n: f"{{{{workflow.parameters.{n}}}}}" for n in INPUTS})
    return wt
