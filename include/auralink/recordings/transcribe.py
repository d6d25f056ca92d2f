"""The transcription work queue: claim recordings, transcribe them, store the result idempotently.

A recording moves pending -> processing (claimed, committed at once so concurrent runs skip it) ->
transcribed | failed. Claiming uses ``FOR UPDATE SKIP LOCKED``, so two runs at once never take the same
recording. A failed recording keeps its reason and counts its attempts in ``retry_count``; it is
re-claimed by later runs until ``MAX_ATTEMPTS``, no sooner than ``AURALINK_TRANSCRIBE_RETRY_AFTER_SECONDS``
(default 1800) after the failure, so the other batches of the same DAG run do not burn its attempts.

A ``processing`` claim older than ``STALE_CLAIM`` means its worker died (OOM kill, node lost): it is
claimed again and the attempt counted, so a recording that kills workers ends ``failed`` after
``MAX_ATTEMPTS`` instead of being retried forever.

A recording without speech (silence, a hum: the energy check, or the engine's own VAD, found none, or
the engine recognised no word) ends ``no_speech``: no transcription row, no ``ai_usage`` row, nothing
billed. A recording whose call lacks a needed consent (:mod:`auralink.recordings.consent`) ends
``skipped_no_consent`` before its audio is even opened, with the reason: likewise nothing stored or billed. Long recordings reach the engine ``WINDOW_SECONDS`` at a time, cut at a quiet frame, so the
engine's memory does not grow with the recording's length.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink import config
from auralink.recordings import audio, storage
from auralink.recordings.engines import PRICE_PROVIDER, Engine, EngineUnavailable, Transcript, select_engine
from auralink.recordings.redaction import redact

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Handled for good: claim_one leaves them alone unless forced (a forced run checks consent again).
DONE_STATUSES = ("transcribed", "no_speech", "skipped_no_consent")
STALE_CLAIM = dt.timedelta(hours=2)
DEFAULT_BATCH_SIZE = 50
WINDOW_SECONDS = 600

# Recordings a run may take: new ones, failed ones with attempts left (not failed during this run), and
# abandoned claims.
_CLAIMABLE = """
    (r.status = 'pending'
     OR (r.status = 'failed' AND r.retry_count < %(max_attempts)s
         AND (r.processed_at IS NULL
              OR r.processed_at < LEAST(%(not_failed_since)s, now() - %(retry_after)s)))
     OR (r.status = 'processing' AND r.claimed_at < now() - %(stale)s))
    AND r.deleted_at IS NULL
"""


@dataclass(frozen=True)
class Recording:
    id: str
    call_id: str
    organization_id: str
    storage_uri: str
    retry_count: int


@dataclass
class Outcome:
    recording_id: str
    status: str  # 'transcribed' | 'no_speech' | 'skipped_no_consent' | 'failed'
    reason: str | None = None
    transcript: Transcript | None = None

    @property
    def item_outcome(self) -> str:
        """What job_run_items records: a recording without speech, or without consent, was handled
        (skipped), not failed."""
        return {"transcribed": "succeeded", "no_speech": "skipped", "skipped_no_consent": "skipped"}.get(
            self.status, "failed")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def retry_after() -> dt.timedelta:
    return dt.timedelta(seconds=float(config.env("AURALINK_TRANSCRIBE_RETRY_AFTER_SECONDS") or 1800))


def _params(not_failed_since: dt.datetime | None = None) -> dict[str, Any]:
    return {"max_attempts": MAX_ATTEMPTS, "stale": STALE_CLAIM, "retry_after": retry_after(),
            "not_failed_since": not_failed_since or dt.datetime.now(dt.UTC)}


def count_claimable(conn: psycopg.Connection) -> int:
    row = conn.execute(f"SELECT count(*) FROM call_recordings r WHERE {_CLAIMABLE}", _params()).fetchone()
    return int(row[0]) if row else 0


def pending_batches(conn: psycopg.Connection, batch_size: int = DEFAULT_BATCH_SIZE,
                    max_batches: int | None = None) -> list[dict[str, int]]:
    """Batch descriptors for fan-out (Airflow dynamic mapping, Argo withParam): one per ``batch_size``
    claimable recordings, at most ``max_batches``. Each batch claims its own recordings when it runs,
    so the descriptors carry no ids (and never go stale)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    n = math.ceil(count_claimable(conn) / batch_size)
    if max_batches is not None:
        n = min(n, max(0, max_batches))
    return [{"batch": i, "batch_size": batch_size} for i in range(n)]


def claim_batch(conn: psycopg.Connection, limit: int, *, claimed_by: str,
                not_failed_since: dt.datetime | None = None) -> list[Recording]:
    """Claim up to ``limit`` recordings (committed before returning, so the claim is visible to others)."""
    params = {**_params(not_failed_since), "limit": limit, "by": claimed_by}
    with conn.transaction():
        conn.execute(
            """
            UPDATE call_recordings r
               SET status = 'failed', retry_count = %(max_attempts)s, processed_at = now(), claimed_by = NULL,
                   failure_reason = 'abandoned: the worker processing it stopped ' || %(max_attempts)s || ' times'
             WHERE r.status = 'processing' AND r.claimed_at < now() - %(stale)s
               AND r.retry_count + 1 >= %(max_attempts)s AND r.deleted_at IS NULL
            """, params)
        rows = conn.execute(
            f"""
            WITH picked AS (
                SELECT r.id FROM call_recordings r
                WHERE {_CLAIMABLE}
                ORDER BY r.created_at, r.id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE call_recordings r
               SET status = 'processing', claimed_at = now(), claimed_by = %(by)s,
                   retry_count = r.retry_count + CASE WHEN r.status = 'processing' THEN 1 ELSE 0 END
              FROM picked WHERE r.id = picked.id
            RETURNING r.id::text, r.call_id::text, r.organization_id::text, r.storage_uri, r.retry_count
            """,
            params,
        ).fetchall()
    return [Recording(*row) for row in rows]


def claim_one(conn: psycopg.Connection, recording_id: str, *, claimed_by: str, force: bool = False) -> Recording | None:
    """Claim one named recording; None if it is already transcribed (and not ``force``).

    Raises LookupError if it does not exist and RuntimeError if another worker holds it.
    """
    with conn.transaction():
        row = conn.execute(
            "SELECT id::text, call_id::text, organization_id::text, storage_uri, retry_count, status, claimed_at, "
            "deleted_at FROM call_recordings WHERE id = %s FOR UPDATE SKIP LOCKED", (recording_id,)).fetchone()
        if row is None:
            exists = conn.execute("SELECT 1 FROM call_recordings WHERE id = %s", (recording_id,)).fetchone()
            if not exists:
                raise LookupError(f"no recording {recording_id}")
            raise RuntimeError(f"recording {recording_id} is being claimed by another worker right now")
        rec, status, claimed_at, deleted_at = Recording(*row[:5]), row[5], row[6], row[7]
        if deleted_at is not None or status == "deleted":
            raise LookupError(f"recording {recording_id} was deleted")
        if status in DONE_STATUSES and not force:
            return None
        if status == "processing" and claimed_at and claimed_at > dt.datetime.now(dt.UTC) - STALE_CLAIM \
                and not force:
            raise RuntimeError(f"recording {recording_id} is being processed by another worker")
        conn.execute("UPDATE call_recordings SET status = 'processing', claimed_at = now(), claimed_by = %s "
                      "WHERE id = %s", (claimed_by, recording_id))
    return rec


def _stt_cost(transcript: Transcript) -> tuple[Decimal, dict[str, Any]]:
    from auralink.pricing import UnknownPrice, price_for

    minutes = Decimal(str(round(transcript.audio_seconds / 60.0, 4)))
    try:
        return price_for("stt", PRICE_PROVIDER, transcript.model).cost(units=minutes), {}
    except UnknownPrice as exc:  # a model not in the price book is recorded at zero cost, and said so
        log.warning("%s; recording the usage at cost 0", exc)
        return Decimal(0), {"price": "unknown"}


def store_transcript(conn: psycopg.Connection, rec: Recording, transcript: Transcript) -> int:
    """Upsert the transcription (natural key: recording), its stt usage, and mark the recording transcribed."""
    redacted = redact(transcript.text)
    cost, meta = _stt_cost(transcript)
    with conn.transaction():
        inserted = conn.execute(
            """
            INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, language, text,
                                        redacted_text, segments, audio_seconds, processing_seconds)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (recording_id) DO UPDATE SET
                engine = EXCLUDED.engine, model = EXCLUDED.model, language = EXCLUDED.language,
                text = EXCLUDED.text, redacted_text = EXCLUDED.redacted_text, segments = EXCLUDED.segments,
                audio_seconds = EXCLUDED.audio_seconds, processing_seconds = EXCLUDED.processing_seconds,
                summary_failures = 0, summary_error = NULL, summary_status = NULL, summary_skip_reason = NULL,
                updated_at = now()
            RETURNING id
            """,
            (rec.id, rec.call_id, rec.organization_id, transcript.engine, transcript.model, transcript.language,
             transcript.text, redacted.text, Jsonb(transcript.segments), round(transcript.audio_seconds, 3),
             round(transcript.processing_seconds, 3)),
        ).fetchone()
        assert inserted is not None  # INSERT ... RETURNING always returns the row
        transcription_id = int(inserted[0])
        conn.execute(
            """
            INSERT INTO ai_usage (organization_id, call_id, user_id, feature, provider, model, unit_type, units,
                                  cost_usd, occurred_at, idempotency_key, metadata)
            VALUES (%s, %s, (SELECT initiated_by FROM calls WHERE id = %s), 'stt', %s, %s, 'minutes', %s, %s, now(),
                    %s, %s)
            ON CONFLICT (idempotency_key) DO UPDATE SET
                provider = EXCLUDED.provider, model = EXCLUDED.model, units = EXCLUDED.units,
                cost_usd = EXCLUDED.cost_usd, metadata = EXCLUDED.metadata
            """,
            (rec.organization_id, rec.call_id, rec.call_id, PRICE_PROVIDER, transcript.model,
             round(transcript.audio_seconds / 60.0, 4), cost, f"stt:recording:{rec.id}",
             Jsonb({"recording_id": rec.id, "engine": transcript.engine, "transcription_id": transcription_id,
                    "redactions": redacted.counts, **meta})),
        )
        conn.execute(
            "UPDATE call_recordings SET status = 'transcribed', failure_reason = NULL, skip_reason = NULL, "
            "processed_at = now(), claimed_by = NULL WHERE id = %s", (rec.id,))
    return transcription_id


def mark_failed(conn: psycopg.Connection, recording_id: str, reason: str) -> int:
    """Record the failure and count the attempt (capped at MAX_ATTEMPTS); returns the attempts so far."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE call_recordings SET status = 'failed', failure_reason = %s, processed_at = now(), "
            "claimed_by = NULL, retry_count = LEAST(retry_count + 1, %s) WHERE id = %s RETURNING retry_count",
            (reason[:2000], MAX_ATTEMPTS, recording_id),
        ).fetchone()
    return row[0] if row else 0


def release(conn: psycopg.Connection, recording_ids: list[str]) -> None:
    """Give claimed-but-untouched recordings back to the queue (the run is stopping)."""
    if recording_ids:
        with conn.transaction():
            conn.execute("UPDATE call_recordings SET status = CASE WHEN retry_count > 0 THEN 'failed' ELSE 'pending' END, "
                         "claimed_by = NULL, claimed_at = NULL WHERE id = ANY(%s::uuid[]) AND status = 'processing'",
                         (recording_ids,))


def store_no_speech(conn: psycopg.Connection, rec: Recording, transcript: Transcript) -> None:
    """The recording holds no speech: recorded as such, with its duration; no text, no usage, no bill."""
    with conn.transaction():
        conn.execute(
            "UPDATE call_recordings SET status = 'no_speech', failure_reason = NULL, processed_at = now(), "
            "claimed_by = NULL, duration_seconds = COALESCE(duration_seconds, %s) WHERE id = %s",
            (round(transcript.audio_seconds, 3), rec.id))


def skip_without_consent(conn: psycopg.Connection, rec: Recording) -> str | None:
    """If the call lacks a needed consent, record the recording as skipped (with the reason) and return
    the reason; None when it may be transcribed. Nothing is read from storage before this."""
    from auralink.recordings import consent

    with conn.transaction():
        reason = consent.transcription_block(conn, rec.call_id)
        if reason is not None:
            conn.execute(
                "UPDATE call_recordings SET status = 'skipped_no_consent', skip_reason = %s, failure_reason = NULL, "
                "processed_at = now(), claimed_by = NULL WHERE id = %s", (reason[:2000], rec.id))
    return reason


def no_speech_reason(transcript: Transcript) -> str:
    found_by = transcript.extra.get("no_speech") or f"{transcript.engine} recognised no words"
    return f"no speech in {transcript.audio_seconds:,.1f} s of audio ({found_by}): not transcribed, not billed"


def transcribe_file(engine: Engine, path: Path) -> Transcript:
    samples = audio.decode(path)
    started = time.monotonic()
    seconds = audio.duration_seconds(samples)
    levels = audio.frame_levels(samples)
    if not getattr(engine, "has_vad", False) and not audio.has_speech(levels):
        return Transcript("", [], None, engine.name, engine.model, seconds, time.monotonic() - started,
                          extra={"no_speech": "energy check"})
    parts = []
    for start, end in audio.pieces(levels, samples.size, WINDOW_SECONDS):
        part = engine.transcribe(samples[start:end])
        offset = start / audio.SAMPLE_RATE
        part.segments = [{**seg, "start": round(seg["start"] + offset, 3), "end": round(seg["end"] + offset, 3)}
                         for seg in part.segments]
        parts.append(part)
    first = parts[0]
    transcript = Transcript(" ".join(p.text for p in parts if p.text).strip(),
                            [seg for p in parts for seg in p.segments],
                            next((p.language for p in parts if p.language and p.text), first.language),
                            first.engine, first.model, seconds)
    if not transcript.text and getattr(engine, "has_vad", False):
        transcript.extra["no_speech"] = f"{engine.name} voice activity detection"
    transcript.processing_seconds = time.monotonic() - started
    return transcript


def process(conn: psycopg.Connection, engine: Engine, rec: Recording, *, audio_path: Path | None = None) -> Outcome:
    """Transcribe one claimed recording; a bad file fails this recording only (recorded, never raised).
    Consent first: a call that lacks one is skipped before its audio is opened."""
    refused = skip_without_consent(conn, rec)
    if refused is not None:
        return Outcome(rec.id, "skipped_no_consent", reason=refused)
    temp: Path | None = None
    try:
        if audio_path is not None:
            path = Path(audio_path)
            if not path.is_file():
                raise storage.RecordingMissing(f"audio file not found: {path}")
        else:
            path, is_temp = storage.open_local(rec.storage_uri)
            temp = path if is_temp else None
        transcript = transcribe_file(engine, path)
    except storage.RecordingFileError as exc:
        return _failed(conn, rec, str(exc))
    except Exception as exc:
        log.exception("transcribing recording %s failed", rec.id)
        return _failed(conn, rec, f"transcription error: {exc.__class__.__name__}: {exc}")
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    if not transcript.text.strip():
        store_no_speech(conn, rec, transcript)
        return Outcome(rec.id, "no_speech", reason=no_speech_reason(transcript), transcript=transcript)
    store_transcript(conn, rec, transcript)
    return Outcome(rec.id, "transcribed", transcript=transcript)


def _failed(conn: psycopg.Connection, rec: Recording, reason: str) -> Outcome:
    attempts = mark_failed(conn, rec.id, reason)
    suffix = f" (attempt {attempts} of {MAX_ATTEMPTS}" + ("; no more retries)" if attempts >= MAX_ATTEMPTS else ")")
    return Outcome(rec.id, "failed", reason=reason + suffix)


def run_claim_tag(run_id: int | None) -> str:
    """How a claim names the job run that holds it (``claimed_by`` ends with it)."""
    return f"{worker_id()} run:{run_id}" if run_id is not None else worker_id()


def release_run_claims(conn: psycopg.Connection, run_id: int) -> int:
    """The claims of a job run whose process died: back to the queue at once (not after STALE_CLAIM),
    the attempt counted, so a recording that kills its workers still ends failed after MAX_ATTEMPTS."""
    with conn.transaction():
        return conn.execute(
            """UPDATE call_recordings
                  SET status = CASE WHEN retry_count + 1 >= %(max)s THEN 'failed' ELSE 'pending' END,
                      retry_count = LEAST(retry_count + 1, %(max)s), claimed_by = NULL, claimed_at = NULL,
                      failure_reason = CASE WHEN retry_count + 1 >= %(max)s
                                            THEN 'abandoned: the worker processing it stopped ' || %(max)s || ' times'
                                            ELSE failure_reason END
                WHERE status = 'processing' AND claimed_by LIKE %(tag)s""",
            {"max": MAX_ATTEMPTS, "tag": f"% run:{run_id}"}).rowcount


def run_batches(url: str, *, batch_size: int = DEFAULT_BATCH_SIZE, max_batches: int = 1,
                engine: Engine | None = None, on_outcome=None, run_id: int | None = None) -> dict[str, Any]:
    """Claim and transcribe up to ``max_batches`` batches of ``batch_size``; returns stats."""
    if batch_size < 1 or max_batches < 1:
        raise ValueError("batch_size and max_batches must be at least 1")
    from auralink.db.connection import connect

    started_at = dt.datetime.now(dt.UTC)
    by = run_claim_tag(run_id)
    stats: dict[str, Any] = {"claimed": 0, "transcribed": 0, "no_speech": 0, "skipped_no_consent": 0, "failed": 0,
                             "audio_seconds": 0.0,
                             "engine": None, "model": None}
    with connect(url, application_name="auralink:transcribe") as conn:
        for _ in range(max_batches):
            batch = claim_batch(conn, batch_size, claimed_by=by, not_failed_since=started_at)
            if not batch:
                break
            stats["claimed"] += len(batch)
            if engine is None:
                try:
                    engine = select_engine()
                    engine.load()  # a missing or broken model fails the job once, not every recording
                except EngineUnavailable as exc:   # configuration, not the recordings: one line, batch back
                    release(conn, [r.id for r in batch])
                    from auralink.jobs import JobFailed

                    raise JobFailed(str(exc)) from None
                except BaseException:
                    release(conn, [r.id for r in batch])
                    raise
            stats["engine"], stats["model"] = engine.name, engine.model
            remaining = [r.id for r in batch]
            try:
                for rec in batch:
                    outcome = process(conn, engine, rec)
                    remaining.remove(rec.id)
                    stats[outcome.status] += 1
                    if outcome.status == "transcribed" and outcome.transcript is not None:  # billed audio
                        stats["audio_seconds"] += outcome.transcript.audio_seconds
                    if on_outcome is not None:
                        on_outcome(outcome)
            finally:
                release(conn, remaining)  # interrupted (timeout, kill): hand the rest back at once
    stats["audio_seconds"] = round(stats["audio_seconds"], 3)
    return stats
