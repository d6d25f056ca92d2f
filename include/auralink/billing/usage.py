"""Idempotent usage ingestion: a re-sent record (same idempotency key and time) is ignored."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

METRICS = ("call_minutes", "ai_calls", "recording_minutes", "storage_gb_hours", "transcription_minutes", "seats")


@dataclass(frozen=True)
class UsageRecord:
    organization_id: uuid.UUID
    metric: str
    quantity: Decimal
    recorded_at: dt.datetime
    idempotency_key: str
    user_id: uuid.UUID | None = None
    source: str = "product"
    received_at: dt.datetime | None = None  # None: now (set by the database)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> UsageRecord:
        """Validate one record from JSON; raises ValueError naming the bad field."""
        unknown = set(raw) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        try:
            org = uuid.UUID(str(raw["organization_id"]))
        except (KeyError, ValueError):
            raise ValueError("organization_id must be a uuid") from None
        metric = raw.get("metric")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        try:
            quantity = Decimal(str(raw.get("quantity")))
        except InvalidOperation:
            raise ValueError(f"quantity must be a number, got {raw.get('quantity')!r}") from None
        if not quantity.is_finite() or quantity < 0:
            raise ValueError(f"quantity must be a non-negative number, got {quantity}")
        recorded_at = _timestamp(raw.get("recorded_at"), "recorded_at")
        key = raw.get("idempotency_key")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("idempotency_key must be a non-empty string")
        user = raw.get("user_id")
        received = raw.get("received_at")
        return cls(org, metric, quantity, recorded_at, key, uuid.UUID(str(user)) if user else None,
                   str(raw.get("source") or "product"),
                   _timestamp(received, "received_at") if received is not None else None)


def _timestamp(value: Any, name: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        ts = value
    else:
        try:
            ts = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{name} must be an ISO timestamp, got {value!r}") from None
    if ts.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone (e.g. 2026-10-01T12:00:00+00:00)")
    return ts


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


def record_usage(conn: psycopg.Connection, records: Iterable[UsageRecord | Mapping[str, Any]]) -> IngestResult:
    """Insert usage records, ignoring re-sent ones; a malformed record is rejected alone.

    Commits nothing itself: the caller's transaction decides (autocommit connections commit per row).
    """
    result = IngestResult()
    parsed: list[UsageRecord] = []
    for pos, rec in enumerate(records):
        try:
            parsed.append(rec if isinstance(rec, UsageRecord) else UsageRecord.parse(rec))
        except ValueError as exc:
            result.rejected.append((pos, str(exc)))
    if not parsed:
        return result
    # The table is partitioned by month on recorded_at: a record needs its partition to exist.
    first = min(r.recorded_at for r in parsed).astimezone(dt.UTC).date()
    last = max(r.recorded_at for r in parsed).astimezone(dt.UTC).date()
    conn.execute("SELECT ensure_monthly_partitions('usage_records', %s, %s)", (first, last))
    for rec in parsed:
        cur = conn.execute(
            """INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at, received_at,
                                          idempotency_key, source)
               VALUES (%s, %s, %s, %s, %s, COALESCE(%s, now()), %s, %s)
               ON CONFLICT (idempotency_key, recorded_at) DO NOTHING""",
            (rec.organization_id, rec.user_id, rec.metric, rec.quantity, rec.recorded_at, rec.received_at,
             rec.idempotency_key, rec.source),
        )
        if cur.rowcount == 1:
            result.inserted += 1
        else:
            result.duplicates += 1
    return result
