"""Call-quality analysis per call from its samples, into ``call_quality_reports`` (one row per call).

MOS comes from :mod:`auralink.quality.mos` (the one E-model implementation, shared with analytics).
A breach is *sustained* when a threshold is crossed in at least 3 of 5 consecutive samples of one
participant's stream (one bad sample is noise; three in a window of five is what the user heard).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from auralink.quality.mos import UnknownCodec, mos_from_network, quality_bucket

log = logging.getLogger(__name__)

RTT_LIMIT_MS = 400.0
JITTER_LIMIT_MS = 30.0
MOS_FLOOR = 3.5
AVG_LOSS_LIMIT = 0.03  # a fraction: 3 %
WINDOW = 5
WINDOW_BREACHES = 3


@dataclass(frozen=True)
class Sample:
    participant_id: int
    rtt_ms: float
    jitter_ms: float
    packet_loss: float
    codec: str


@dataclass
class QualityReport:
    samples_count: int
    participants_count: int
    avg_rtt_ms: float | None
    max_rtt_ms: float | None
    avg_jitter_ms: float | None
    max_jitter_ms: float | None
    avg_packet_loss: float | None
    avg_mos: float | None
    min_mos: float | None
    quality_bucket: str | None
    sustained_high_rtt: bool
    sustained_high_jitter: bool
    sustained_low_mos: bool
    high_packet_loss: bool
    flags: list[str] = field(default_factory=list)


def sustained(values: Sequence[bool], window: int = WINDOW, needed: int = WINDOW_BREACHES) -> bool:
    """True if some run of ``window`` consecutive values (or the whole series, if shorter) has ``needed`` Trues."""
    if len(values) < window:
        return sum(values) >= needed
    count = sum(values[:window])
    if count >= needed:
        return True
    for i in range(window, len(values)):
        count += values[i] - values[i - window]
        if count >= needed:
            return True
    return False


def _mos(s: Sample) -> float | None:
    try:
        return mos_from_network(s.rtt_ms, s.jitter_ms, s.packet_loss, s.codec)
    except UnknownCodec:
        return None


def analyze(samples: Sequence[Sample]) -> QualityReport:
    """Samples in time order (per participant order is what matters)."""
    streams: dict[int, list[tuple[Sample, float | None]]] = {}
    for s in samples:
        streams.setdefault(s.participant_id, []).append((s, _mos(s)))
    n = len(samples)
    mos_values = [m for stream in streams.values() for _, m in stream if m is not None]
    high_rtt = any(sustained([s.rtt_ms > RTT_LIMIT_MS for s, _ in st]) for st in streams.values())
    high_jitter = any(sustained([s.jitter_ms > JITTER_LIMIT_MS for s, _ in st]) for st in streams.values())
    low_mos = any(sustained([m is not None and m < MOS_FLOOR for _, m in st]) for st in streams.values())
    avg_loss = sum(s.packet_loss for s in samples) / n if n else None
    high_loss = avg_loss is not None and avg_loss > AVG_LOSS_LIMIT
    avg_mos = sum(mos_values) / len(mos_values) if mos_values else None
    flags = [name for name, on in (("sustained_high_rtt", high_rtt), ("sustained_high_jitter", high_jitter),
                                   ("sustained_low_mos", low_mos), ("high_packet_loss", high_loss)) if on]
    if n and len(mos_values) < n:
        flags.append("unknown_codec")  # MOS left out for samples whose codec has no G.113 values
    return QualityReport(
        samples_count=n, participants_count=len(streams),
        avg_rtt_ms=sum(s.rtt_ms for s in samples) / n if n else None,
        max_rtt_ms=max((s.rtt_ms for s in samples), default=None),
        avg_jitter_ms=sum(s.jitter_ms for s in samples) / n if n else None,
        max_jitter_ms=max((s.jitter_ms for s in samples), default=None),
        avg_packet_loss=avg_loss, avg_mos=avg_mos, min_mos=min(mos_values, default=None),
        quality_bucket=quality_bucket(avg_mos) if avg_mos is not None else None,
        sustained_high_rtt=high_rtt, sustained_high_jitter=high_jitter, sustained_low_mos=low_mos,
        high_packet_loss=high_loss, flags=flags)


# Calls whose report is missing or older than their newest sample.
_STALE_CALLS = """
    SELECT c.id FROM calls c
    WHERE EXISTS (SELECT 1 FROM call_quality_samples s WHERE s.call_id = c.id)
      AND NOT EXISTS (
          SELECT 1 FROM call_quality_reports q
          WHERE q.call_id = c.id
            AND q.samples_count = (SELECT count(*) FROM call_quality_samples s WHERE s.call_id = c.id))
      AND c.id <> ALL(%s::uuid[])
    ORDER BY c.started_at, c.id
    LIMIT %s
    FOR UPDATE OF c SKIP LOCKED
"""


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def analyze_batch(conn: psycopg.Connection, limit: int,
                  on_item: Callable[[str, str, str | None], None] | None = None,
                  exclude: set[str] | None = None) -> tuple[int, int]:
    """Analyse up to ``limit`` calls needing a report in one transaction (calls locked, others skip them).

    Returns (calls analysed, calls failed); failed call ids are added to ``exclude`` so a run does not
    pick them again.
    """
    exclude = exclude if exclude is not None else set()
    failed = 0
    with conn.transaction():
        call_ids = [r[0] for r in conn.execute(_STALE_CALLS, (list(exclude), limit)).fetchall()]
        if not call_ids:
            return 0, 0
        rows = conn.execute(
            "SELECT call_id, participant_id, rtt_ms, jitter_ms, packet_loss, codec FROM call_quality_samples "
            "WHERE call_id = ANY(%s) ORDER BY call_id, participant_id, sampled_at", (call_ids,)).fetchall()
        by_call: dict[Any, list[Sample]] = {}
        for call_id, pid, rtt, jitter, loss, codec in rows:
            by_call.setdefault(call_id, []).append(Sample(pid, float(rtt), float(jitter), float(loss), codec))
        for call_id in call_ids:
            try:
                with conn.transaction():  # a savepoint: one bad call fails alone
                    report = analyze(by_call.get(call_id, []))
                    _upsert(conn, call_id, report)
            except (ValueError, psycopg.DataError) as exc:
                failed += 1
                exclude.add(str(call_id))
                if on_item:
                    on_item(str(call_id), "failed", f"{exc.__class__.__name__}: {exc}")
                continue
            if on_item:
                on_item(str(call_id), "succeeded", ",".join(report.flags) or None)
    return len(call_ids) - failed, failed


def _upsert(conn: psycopg.Connection, call_id: Any, r: QualityReport) -> None:
    conn.execute(
        """
        INSERT INTO call_quality_reports (call_id, organization_id, samples_count, participants_count,
            first_sample_at, last_sample_at, avg_rtt_ms, max_rtt_ms, avg_jitter_ms, max_jitter_ms,
            avg_packet_loss, avg_mos, min_mos, quality_bucket, sustained_high_rtt, sustained_high_jitter,
            sustained_low_mos, high_packet_loss, flags, analyzed_at)
        SELECT c.id, c.organization_id, %(n)s, %(participants)s,
               (SELECT min(sampled_at) FROM call_quality_samples WHERE call_id = c.id),
               (SELECT max(sampled_at) FROM call_quality_samples WHERE call_id = c.id),
               %(avg_rtt)s, %(max_rtt)s, %(avg_jitter)s, %(max_jitter)s, %(avg_loss)s, %(avg_mos)s, %(min_mos)s,
               %(bucket)s, %(rtt)s, %(jitter)s, %(mos)s, %(loss)s, %(flags)s, now()
        FROM calls c WHERE c.id = %(call)s
        ON CONFLICT (call_id) DO UPDATE SET
            samples_count = EXCLUDED.samples_count, participants_count = EXCLUDED.participants_count,
            first_sample_at = EXCLUDED.first_sample_at, last_sample_at = EXCLUDED.last_sample_at,
            avg_rtt_ms = EXCLUDED.avg_rtt_ms, max_rtt_ms = EXCLUDED.max_rtt_ms,
            avg_jitter_ms = EXCLUDED.avg_jitter_ms, max_jitter_ms = EXCLUDED.max_jitter_ms,
            avg_packet_loss = EXCLUDED.avg_packet_loss, avg_mos = EXCLUDED.avg_mos, min_mos = EXCLUDED.min_mos,
            quality_bucket = EXCLUDED.quality_bucket, sustained_high_rtt = EXCLUDED.sustained_high_rtt,
            sustained_high_jitter = EXCLUDED.sustained_high_jitter, sustained_low_mos = EXCLUDED.sustained_low_mos,
            high_packet_loss = EXCLUDED.high_packet_loss, flags = EXCLUDED.flags, analyzed_at = now()
        """,
        {"call": call_id, "n": r.samples_count, "participants": r.participants_count,
         "avg_rtt": _round(r.avg_rtt_ms, 2), "max_rtt": _round(r.max_rtt_ms, 2),
         "avg_jitter": _round(r.avg_jitter_ms, 2), "max_jitter": _round(r.max_jitter_ms, 2),
         "avg_loss": _round(r.avg_packet_loss, 5), "avg_mos": _round(r.avg_mos, 3), "min_mos": _round(r.min_mos, 3),
         "bucket": r.quality_bucket, "rtt": r.sustained_high_rtt, "jitter": r.sustained_high_jitter,
         "mos": r.sustained_low_mos, "loss": r.high_packet_loss, "flags": r.flags},
    )


def run(url: str, *, batch_size: int = 500, max_batches: int | None = None,
        on_item: Callable[[str, str, str | None], None] | None = None) -> dict[str, Any]:
    from auralink.db.connection import connect

    analyzed = failed = batches = flagged = 0
    exclude: set[str] = set()

    def count(call_id: str, outcome: str, detail: str | None) -> None:
        nonlocal flagged
        if outcome == "succeeded" and detail:
            flagged += 1
        if on_item:
            on_item(call_id, outcome, detail)

    with connect(url, application_name="auralink:call_quality") as conn:
        while max_batches is None or batches < max_batches:
            ok, bad = analyze_batch(conn, batch_size, count, exclude)
            if ok + bad == 0:
                break
            analyzed, failed, batches = analyzed + ok, failed + bad, batches + 1
    return {"calls_analyzed": analyzed, "calls_failed": failed, "calls_flagged": flagged, "batches": batches}
