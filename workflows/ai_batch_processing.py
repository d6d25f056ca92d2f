"""``ai-batch-processing`` (WorkflowTemplate): transcribe pending recordings in parallel batches.

select-batches asks Postgres how much work is pending (``auralink recordings pending``) and prints one JSON
item per batch; each transcribe-batch step claims its own recordings (``FOR UPDATE SKIP LOCKED`` inside the
job), so five run at once without overlapping, and a failed batch is retried alone. analyze-call-quality
needs only the quality samples, so it runs beside them (it takes one of the five slots). The exit handler
records the outcome in argo_workflows.
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, WorkflowTemplate

from workflows.common import (
    LIGHT_RESOURCES,
    Settings,
    auralink_step,
    forward,
    job_args,
    parameters,
    record_exit_step,
    record_start_step,
    workflow_defaults,
)

NAME = "ai-batch-processing"
DESCRIPTION = "Transcribe pending call recordings in parallel batches and analyse call quality."
PARALLELISM = 5
INPUTS = ("batch-size", "max-batches")


def add_transcription_templates(settings: Settings, name: str = "transcribe-recordings") -> DAG:
    """The fan-out of the transcribe_recordings job (the nightly runs it too): select-batches, then one
    transcribe-batch pod per batch. Call inside a workflow context; returns the DAG ``name``, whose inputs
    are ``batch-size`` and ``max-batches``."""
    select = auralink_step(
        settings, "select-batches",
        ["recordings", "pending", "--batch-size", "{{inputs.parameters.batch-size}}",
         "--max-batches", "{{inputs.parameters.max-batches}}"],
        inputs=[Parameter(name=n) for n in INPUTS],
        resources=LIGHT_RESOURCES,
    )
    # One batch per pod: max_batches=1 makes the job claim batch_size recordings once and stop.
    transcribe = auralink_step(
        settings, "transcribe-batch",
        job_args("transcribe_recordings", batch_size="{{inputs.parameters.batch-size}}", max_batches="1"),
        inputs=[Parameter(name="batch-size")],
        timeout="2h",
    )
    with DAG(name=name, inputs=[Parameter(name=n) for n in INPUTS], parallelism=PARALLELISM) as dag:
        selected = select(arguments=forward(INPUTS, "inputs.parameters"))
        # Argo names each pod after its item ("transcribe-batch(1:batch:1,batch_size:50)").
        selected >> transcribe(arguments={"batch-size": "{{item.batch_size}}"}, with_param=selected.result)
    return dag


def add_batch_templates(settings: Settings) -> DAG:
    """The transcription fan-out with call quality beside it: the ``process-batches`` DAG (inputs
    ``batch-size`` and ``max-batches``)."""
    transcribe = add_transcription_templates(settings)
    quality = auralink_step(settings, "analyze-call-quality", job_args("analyze_call_quality"))
    with DAG(name="process-batches", inputs=[Parameter(name=n) for n in INPUTS], parallelism=PARALLELISM) as dag:
        transcribe(arguments=forward(INPUTS, "inputs.parameters"))
        quality()
    return dag


def build(settings: Settings) -> WorkflowTemplate:
    with WorkflowTemplate(
        name=NAME,
        entrypoint="main",
        arguments=parameters(batch_size="50", max_batches="20"),
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as wt:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        process = add_batch_templates(settings)
        with DAG(name="main"):
            start() >> process(arguments=forward(INPUTS, "workflow.parameters"))
    return wt
