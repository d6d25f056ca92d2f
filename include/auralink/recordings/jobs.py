"""Recording jobs: transcribe, analyse call quality, summarise, and take back what withdrawn consents covered.

They drain a queue (pending recordings, new samples, transcripts without a summary) whatever the night's
date: each instance claims its own items with ``FOR UPDATE SKIP LOCKED``, so they run every 4 hours on
their own and again in the night, before the analytics read what they produced. Summaries run after
transcription so tonight's transcripts are summarised tonight; quality needs only the samples. Both
transcription and summaries skip a call whose participants' consents do not allow it
(:mod:`auralink.recordings.consent`). ``enforce_consent_withdrawals`` runs in the night only, after the
summaries, for the withdrawals that took effect before the night's end.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from auralink.jobs import JobContext, job

# Both schedules run them: every 4 hours on their own, and in the night before the analytics read their output.
PIPELINES = ("recordings", "nightly")


@job("transcribe_recordings", stage=20, pipelines=PIPELINES, parallel=True, fan_out="recording_batches",
     produces=("public.transcriptions",), timeout_minutes=120,
     release_claims="auralink.recordings.transcribe:release_run_claims")
def transcribe_recordings(ctx: JobContext, batch_size: Annotated[int, Field(ge=1, le=500)] = 50,
                          max_batches: Annotated[int, Field(ge=1, le=1000)] = 20) -> dict[str, Any]:
    """Transcribe pending call recordings (claims batches with SKIP LOCKED; bad files fail alone)."""
    from auralink.recordings.transcribe import run_batches

    def record(outcome) -> None:   # no speech: skipped with its reason (handled, not billed); not a failure
        ctx.record_item("recording", outcome.recording_id, outcome.item_outcome, outcome.reason)

    stats = run_batches(ctx.url, batch_size=batch_size, max_batches=max_batches, on_outcome=record, run_id=ctx.run_id)
    ctx.log.info("transcribe_recordings: %s", stats)
    return stats


@job("analyze_call_quality", stage=21, pipelines=PIPELINES, parallel=True, produces=("public.call_quality_reports",))
def analyze_call_quality(ctx: JobContext, batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500,
                         max_batches: Annotated[int, Field(ge=1)] | None = None) -> dict[str, Any]:
    """Per-call quality report (MOS, sustained RTT/jitter/MOS breaches, loss) into call_quality_reports."""
    from auralink.recordings.quality import run

    def record(call_id: str, outcome: str, detail: str | None) -> None:
        # Only failures become job_run_items: a row per healthy call would dwarf the reports themselves.
        if outcome == "failed":
            ctx.record_item("call", call_id, "failed", detail)

    stats = run(ctx.url, batch_size=batch_size, max_batches=max_batches, on_item=record)
    ctx.log.info("analyze_call_quality: %s", stats)
    return stats


@job("summarize_transcripts", stage=22, pipelines=PIPELINES, after=("public.transcriptions",), parallel=True,
     fan_out="summary_workers", produces=("public.call_summaries",), secrets=("llm",), timeout_minutes=180)
def summarize_transcripts(ctx: JobContext, batch_size: Annotated[int, Field(ge=1, le=1000)] = 50,
                          max_batches: Annotated[int, Field(ge=1)] | None = None) -> dict[str, Any]:
    """Summary, action items and sentiment per transcript (LLM if configured, else offline TF-IDF)."""
    from auralink.recordings.summarize import run

    def record(transcription_id: int, outcome: str, reason: str | None) -> None:
        ctx.record_item("transcription", transcription_id, outcome, reason)

    stats = run(ctx.url, batch_size=batch_size, max_batches=max_batches, on_item=record)
    ctx.log.info("summarize_transcripts: %s", stats)
    return stats


@job("enforce_consent_withdrawals", stage=23, pipelines=("nightly",), after=("public.call_summaries",),
     produces=("public.consent_withdrawal_removals",))
def enforce_consent_withdrawals(ctx: JobContext) -> dict[str, Any]:
    """Remove transcripts and summaries derived under consents withdrawn before the night's end (legal holds keep theirs)."""
    from auralink.recordings.consent import enforce_withdrawals

    def record(item_type: str, item_id: Any, outcome: str, reason: str | None) -> None:
        ctx.record_item(item_type, item_id, outcome, reason)

    stats = enforce_withdrawals(ctx.url, until=ctx.interval.end, run_id=ctx.run_id, on_item=record)
    ctx.log.info("enforce_consent_withdrawals: %s", stats)
    return stats
