"""``summarization`` (WorkflowTemplate): summarize transcripts in parallel, bounded by an LLM semaphore.

select-transcripts counts the transcripts that need a summary (``auralink argo pending-summaries``) and
prints one JSON item per worker they are worth; each summarize-worker step runs the summarize_transcripts
job, which locks one transcript at a time (``FOR UPDATE SKIP LOCKED``), so the workers drain one queue
without doing anything twice, and records token usage and cost in ai_usage. Every worker pod holds one
slot of the ConfigMap semaphore ``auralink-llm-limits/summarize``, shared by every workflow in the
namespace, so the LLM provider's rate limit holds however many workflows run.
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, Resources, WorkflowTemplate

from workflows.common import (
    LIGHT_RESOURCES,
    Settings,
    auralink_step,
    forward,
    job_args,
    llm_env,
    llm_semaphore,
    parameters,
    record_exit_step,
    record_start_step,
    workflow_defaults,
)

NAME = "summarization"
DESCRIPTION = "Summarize transcripts with parallel workers; a ConfigMap semaphore bounds concurrent LLM calls."
INPUTS = ("batch-size", "max-workers")
# Waiting on the LLM, not computing: the offline fallback (TF-IDF) stays well under 1 GiB.
SUMMARIZE_RESOURCES = Resources(cpu_request="500m", cpu_limit="1", memory_request="1Gi", memory_limit="1Gi")


def add_summary_templates(settings: Settings, name: str = "summarize") -> DAG:
    """Templates and the summary fan-out DAG ``name`` (inputs ``batch-size``, ``max-workers``); call in a
    workflow context. The nightly runs it as its summarize-transcripts step."""
    select = auralink_step(
        settings, "select-transcripts",
        ["argo", "pending-summaries", "--batch-size", "{{inputs.parameters.batch-size}}",
         "--max-workers", "{{inputs.parameters.max-workers}}"],
        inputs=[Parameter(name=n) for n in INPUTS],
        resources=LIGHT_RESOURCES,
    )
    summarize = auralink_step(
        settings, "summarize-worker",
        job_args("summarize_transcripts", batch_size="{{inputs.parameters.batch-size}}"),
        inputs=[Parameter(name="batch-size")],
        resources=SUMMARIZE_RESOURCES,
        extra_env=llm_env(),
        synchronization=llm_semaphore(),
        timeout="3h",
    )
    with DAG(name=name, inputs=[Parameter(name=n) for n in INPUTS]) as dag:
        selected = select(arguments=forward(INPUTS, "inputs.parameters"))
        selected >> summarize(arguments={"batch-size": "{{item.batch_size}}"}, with_param=selected.result)
    return dag


def build(settings: Settings) -> WorkflowTemplate:
    with WorkflowTemplate(
        name=NAME,
        entrypoint="main",
        arguments=parameters(batch_size="20", max_workers="5"),
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as wt:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        summarize = add_summary_templates(settings)
        with DAG(name="main"):
            start() >> summarize(arguments=forward(INPUTS, "workflow.parameters"))
    return wt
