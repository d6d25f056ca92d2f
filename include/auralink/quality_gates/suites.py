"""What the source tables must look like before the nightly analytics trust them.

Each gate validates the newest ``window_days`` of one table (anchored at its latest row, so the cost
grows with new data, not with history). A ``blocking`` expectation that fails stops the nightly run
before dbt; a non-blocking one is recorded as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auralink.seed import vocab

KNOWN_CODECS = sorted(set(vocab.CODECS) | {"pcmu", "pcma", "g711u", "g711a", "ilbc", "amr-wb", "speex"})


@dataclass(frozen=True)
class Check:
    expectation: str              # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    blocking: bool = True


@dataclass(frozen=True)
class Gate:
    table: str
    time_column: str
    columns: str = "*"
    checks: list[Check] = field(default_factory=list)


GATES: list[Gate] = [
    Gate("calls", "started_at", checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("ExpectColumnValuesToBeUnique", {"column": "id"}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "organization_id"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "duration_seconds", "min_value": 0, "max_value": 86400}),
        Check("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": ["in_progress", "completed", "failed", "missed"]}),
        Check("ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "ended_at", "column_B": "started_at", "or_equal": True, "ignore_row_if": "either_value_is_missing"}),
    ]),
    Gate("call_quality_samples", "sampled_at", checks=[
        Check("ExpectColumnValuesToBeBetween", {"column": "packet_loss", "min_value": 0, "max_value": 1}),
        Check("ExpectColumnValuesToBeBetween", {"column": "rtt_ms", "min_value": 0, "max_value": 5000, "mostly": 0.999},
              blocking=False),
        Check("ExpectColumnValuesToBeInSet", {"column": "codec", "value_set": KNOWN_CODECS, "mostly": 0.99}, blocking=False),
    ]),
    Gate("usage_records", "recorded_at", checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "idempotency_key"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
        Check("ExpectColumnValuesToBeInSet", {"column": "metric", "value_set": [
            "call_minutes", "ai_calls", "recording_minutes", "storage_gb_hours", "transcription_minutes", "seats"]}),
    ]),
    Gate("ai_usage", "occurred_at", checks=[
        Check("ExpectColumnValuesToBeInSet", {"column": "feature", "value_set": ["stt", "tts", "llm", "agents"]}),
        Check("ExpectColumnValuesToBeBetween", {"column": "cost_usd", "min_value": 0}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "model"}),
    ]),
    Gate("audit_logs", "occurred_at", checks=[
        Check("ExpectColumnValuesToBeInSet", {"column": "severity", "value_set": ["info", "warning", "error", "critical"]}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "action"}),
    ]),
]
