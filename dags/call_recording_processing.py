"""call_recording_processing: transcribe new call recordings, analyse call quality, summarise transcripts."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from auralink.orchestration import airflow_support
from auralink.recordings import orchestration as rec

DOC = f"""
### call_recording_processing (every 4 hours)

1. **plan_transcription_batches** counts the recordings waiting (pending, failed with attempts left,
   abandoned claims) and returns one descriptor per `batch_size` of them (at most `max_batches`).
2. **transcribe_batch** is mapped over those descriptors (dynamic task mapping). Each mapped task claims
   its own batch with `FOR UPDATE SKIP LOCKED`, so batches never overlap and a retried task never
   redoes finished recordings. A bad file fails that recording alone (reason + attempt count on
   `call_recordings`, a failed row in `job_run_items`, a WARNING line in this task's log).
   Parallelism is bounded by the Airflow pool **`{rec.TRANSCRIPTION_POOL}`**: create it once per
   environment, sized to the CPU cores the workers may spend on speech (one torch thread per task):

       airflow pools set {rec.TRANSCRIPTION_POOL} {rec.TRANSCRIPTION_POOL_SLOTS} "Parallel speech-to-text (CPU bound)"

   (or Admin > Pools in the UI, or `airflow pools import pools.json` in the deployment's bootstrap).
   The scheduler never runs tasks of a pool that does not exist, so every environment must create it.
3. **analyze_call_quality** (independent) upserts one `call_quality_reports` row per call with new samples.
4. **summarize_transcripts** runs after transcription (even if no batch was needed) and summarises
   every transcript without a current summary: an OpenAI-compatible model when configured
   (AURALINK_OPENAI_BASE_URL / OPENAI_API_KEY / AURALINK_SUMMARY_MODEL), else offline TF-IDF.

Engines, configuration and failure handling: `docs/recordings.md`.
"""


@dag(
    dag_id="call_recording_processing",
    schedule="0 */4 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(retries=2, timeout_minutes=90),
    params={
        "batch_size": Param(50, type="integer", minimum=1, maximum=500, description="recordings per mapped task"),
        "max_batches": Param(20, type="integer", minimum=1, maximum=200, description="mapped tasks per run"),
    },
    doc_md=DOC,
    tags=["recordings", "speech", "llm"],
)
def call_recording_processing():
    @task
    def plan_transcription_batches(batch_size: str, max_batches: str) -> list[dict]:
        return rec.plan_transcription_batches(batch_size, max_batches)

    @task(pool=rec.TRANSCRIPTION_POOL, map_index_template="batch {{ batch_label }}")
    def transcribe_batch(batch: dict) -> dict:
        from airflow.sdk import get_current_context

        get_current_context()["batch_label"] = batch["batch"]  # names the mapped task in the UI
        return rec.run_and_report("transcribe_recordings", batch_size=batch["batch_size"], max_batches=1)

    @task
    def analyze_call_quality() -> dict:
        return rec.run_and_report("analyze_call_quality")

    @task(trigger_rule="none_failed")
    def summarize_transcripts() -> dict:
        return rec.run_and_report("summarize_transcripts")

    batches = plan_transcription_batches("{{ params.batch_size }}", "{{ params.max_batches }}")
    transcribe_batch.expand(batch=batches) >> summarize_transcripts()
    analyze_call_quality()


call_recording_processing()
