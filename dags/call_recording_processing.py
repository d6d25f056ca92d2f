"""call_recording_processing: transcribe new call recordings, analyse call quality, summarise transcripts."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag
from auralink.orchestration import airflow_dags, airflow_support
from auralink.recordings import orchestration as rec

INTRO = f"""
### call_recording_processing (every 4 hours)

The recordings part of the job graph on its own rhythm (the nightly DAG runs the same jobs again before
the analytics read their output). These jobs drain a queue: each claims its own items with
`FOR UPDATE SKIP LOCKED`, so runs and mapped tasks never overlap, and a bad file fails that recording
alone (reason and attempt count on `call_recordings`, a failed row in `job_run_items`, a WARNING line in
the task's log).

`transcribe_recordings.plan_batches` counts the recordings waiting and returns one descriptor per
`batch_size`; `transcribe_batch` is mapped over them in the Airflow pool **`{rec.TRANSCRIPTION_POOL}`**:
create it once per environment, sized to the CPU cores the workers may spend on speech:

    airflow pools set {rec.TRANSCRIPTION_POOL} {rec.TRANSCRIPTION_POOL_SLOTS} "Parallel speech-to-text (CPU bound)"

Summaries use an OpenAI-compatible model when configured (AURALINK_OPENAI_BASE_URL / OPENAI_API_KEY /
AURALINK_SUMMARY_MODEL), else offline TF-IDF. Engines and failure handling: `docs/recordings.md`.
"""


@dag(
    dag_id="call_recording_processing",
    schedule=airflow_dags.schedule("recordings"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(),
    params=airflow_dags.params("recordings"),
    doc_md=airflow_dags.doc_md("recordings", INTRO),
    tags=["recordings", "speech", "llm"],
)
def call_recording_processing():
    airflow_dags.render("recordings")


call_recording_processing()
