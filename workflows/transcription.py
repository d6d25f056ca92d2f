"""``transcription`` (WorkflowTemplate): transcribe one recording, the download and the speech-to-text apart.

fetch downloads the recording from its storage URI into an output artifact (light pod, network bound);
transcribe gets it as an input artifact (1 CPU / 2 GiB pod) and stores the transcript in Postgres. Running
it twice is safe: an already transcribed recording is skipped unless ``force`` is ``true``.
"""

from __future__ import annotations

from hera.workflows import DAG, Artifact, NoneArchiveStrategy, Parameter, WorkflowTemplate

from workflows.common import (
    LIGHT_RESOURCES,
    Settings,
    auralink_step,
    parameters,
    record_exit_step,
    record_start_step,
    workflow_defaults,
)

NAME = "transcription"
DESCRIPTION = "Download one call recording into an artifact, then transcribe it and store the transcript."
AUDIO_PATH = "/tmp/audio"


def build(settings: Settings) -> WorkflowTemplate:
    with WorkflowTemplate(
        name=NAME,
        entrypoint="main",
        # recording-id has no default: submitting without it is refused by the server, not run half-way.
        arguments=[Parameter(name="recording-id"), *parameters(engine="auto")],
        **workflow_defaults(settings, NAME, DESCRIPTION),
    ) as wt:
        start = record_start_step(settings, NAME)
        record_exit_step(settings, NAME)
        fetch = auralink_step(
            settings, "fetch",
            ["recordings", "fetch", "--recording-id", "{{inputs.parameters.recording-id}}", "--out", AUDIO_PATH],
            inputs=[Parameter(name="recording-id")],
            # Audio is already compressed: store the file as is, not in a tar.gz.
            outputs=[Artifact(name="audio", path=AUDIO_PATH, archive=NoneArchiveStrategy())],
            resources=LIGHT_RESOURCES,
        )
        transcribe = auralink_step(
            settings, "transcribe",
            ["recordings", "transcribe", "--recording-id", "{{inputs.parameters.recording-id}}",
             "--audio", AUDIO_PATH, "--engine", "{{inputs.parameters.engine}}"],
            inputs=[Parameter(name="recording-id"), Parameter(name="engine"),
                    Artifact(name="audio", path=AUDIO_PATH)],
            timeout="1h",
        )
        with DAG(name="main"):
            started = start()
            fetched = fetch(arguments={"recording-id": "{{workflow.parameters.recording-id}}"})
            started >> fetched >> transcribe(arguments=[
                Parameter(name="recording-id", value="{{workflow.parameters.recording-id}}"),
                Parameter(name="engine", value="{{workflow.parameters.engine}}"),
                fetched.get_artifact("audio"),
            ])
    return wt
