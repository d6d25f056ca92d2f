"""What the tables must look like: the source tables before dbt trusts them, the marts before they are published.

Each :class:`Gate` validates a window of one table: the ``window_days`` before the night's interval end
(``time_column`` in ``[end - days, end)``), so the cost grows with new data, not with history, and a run
for a past night checks that night's rows. A gate can give its own window query instead (``window``,
with ``{days}``, ``{end}`` (a timestamptz literal) and ``{end_date}`` (the date the interval ends on, a
date literal)), e.g. to probe a big mart through an index on another table.

A :class:`Check` names a Great Expectations 1.x expectation class and its arguments. ``blocking`` checks
that fail stop the run (the Airflow task fails, so what depends on it never runs); the others are recorded
as warnings. Both show in Data Docs. Two check kinds are built here rather than spelled out each time:

* **freshness** (``Gate.freshness``): the newest ``time_column`` of the window is no older than
  ``max_age_hours`` before the interval's end (built at run time, see :func:`freshness_check`);
* **referential** (:func:`references`): every non-null key of the window exists in its parent table
  (``UnexpectedRowsExpectation`` with a LEFT JOIN over ``{batch}``). Some of these keys have no foreign
  key in the schema (``usage_records`` is partitioned), and the seed loads with the FK triggers off.

Adding an expectation: add a ``Check`` to the gate's list (the class name from
``great_expectations.expectations`` and its keyword arguments); see docs/data-quality.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from auralink.seed import vocab

Phase = Literal["source", "analytics"]

KNOWN_CODECS = sorted(set(vocab.CODECS) | {"pcmu", "pcma", "g711u", "g711a", "ilbc", "amr-wb", "speex"})


@dataclass(frozen=True)
class Check:
    expectation: str              # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    blocking: bool = True
    description: str | None = None  # shown in Data Docs; default: the expectation and its arguments
    column: str | None = None       # recorded column for checks without a ``column`` argument


@dataclass(frozen=True)
class Gate:
    table: str                      # schema-qualified unless in public
    time_column: str
    columns: str = "*"
    checks: list[Check] = field(default_factory=list)
    window: str | None = None       # SQL selecting the window; ``{days}``, ``{end}``, ``{end_date}`` filled in
    window_days: int | None = None  # this gate's own window (month-grained marts need more than the default)
    time_is_date: bool = False      # time_column is a date (marts), not a timestamptz
    freshness: bool | None = None   # None: no freshness check; True: blocking; False: warning only

    @property
    def name(self) -> str:
        """The table without its schema: names the Great Expectations asset and suite."""
        return self.table.rpartition(".")[2]


def snake(expectation: str) -> str:
    """``ExpectColumnValuesToBeBetween`` -> ``expect_column_values_to_be_between`` (Great Expectations' type)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", expectation).lower()


def describe(gate: Gate, check: Check) -> str:
    """The line Data Docs shows for a check: what it asks, the expectation type, blocking or warning."""
    column = check.column or check.kwargs.get("column") or check.kwargs.get("column_A")
    if check.description:
        what = check.description
    else:
        args = ", ".join(f"{k}={_short(v)}" for k, v in check.kwargs.items() if k not in ("column",))
        what = f"{column}: {args}" if column else args or "table"
    return f"{gate.table} - {what} [{snake(check.expectation)}] ({'blocking' if check.blocking else 'warning'})"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def references(column: str, parent: str, parent_column: str = "id", *, blocking: bool = True) -> Check:
    """Every non-null ``column`` of the window exists in ``parent.parent_column``.

    The query has a JOIN, so Great Expectations substitutes ``{batch}`` without an alias of its own and
    ours (``b``) stands.
    """
    query = (f"SELECT b.{column} FROM {{batch}} AS b LEFT JOIN {parent} AS p ON p.{parent_column} = b.{column} "
             f"WHERE b.{column} IS NOT NULL AND p.{parent_column} IS NULL")
    return Check("UnexpectedRowsExpectation", {"unexpected_rows_query": query}, blocking=blocking, column=column,
                 description=f"{column}: every value exists in {parent}.{parent_column}")


def freshness_check(gate: Gate, as_of: dt.datetime, max_age_hours: float) -> Check:
    """The newest ``time_column`` is at most ``max_age_hours`` older than ``as_of``, the interval's end
    (a stalled feed)."""
    floor = as_of - dt.timedelta(hours=max_age_hours)
    return Check("ExpectColumnMaxToBeBetween", {"column": gate.time_column, "min_value": floor},
                 blocking=bool(gate.freshness), column=gate.time_column,
                 description=(f"{gate.time_column}: freshness, newest row no older than {max_age_hours:g} h "
                              f"before {as_of.isoformat(timespec='minutes')} (>= {floor.isoformat(timespec='minutes')})"))


def non_negative(*columns: str, blocking: bool = True) -> list[Check]:
    return [Check("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0}, blocking=blocking) for c in columns]


def not_null(*columns: str) -> list[Check]:
    return [Check("ExpectColumnValuesToNotBeNull", {"column": c}) for c in columns]


def between(column: str, low: float, high: float, *, blocking: bool = True) -> Check:
    return Check("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low, "max_value": high},
                 blocking=blocking)


SOURCE_GATES: list[Gate] = [
    Gate("calls", "started_at", freshness=True, checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("ExpectColumnValuesToBeUnique", {"column": "id"}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "organization_id"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "duration_seconds", "min_value": 0, "max_value": 86400}),
        Check("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": ["in_progress", "completed", "failed", "missed"]}),
        Check("ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "ended_at", "column_B": "started_at", "or_equal": True, "ignore_row_if": "either_value_is_missing"}),
        references("organization_id", "organizations"),
    ]),
    Gate("call_quality_samples", "sampled_at", freshness=True, checks=[
        Check("ExpectColumnValuesToBeBetween", {"column": "packet_loss", "min_value": 0, "max_value": 1}),
        Check("ExpectColumnValuesToBeBetween", {"column": "rtt_ms", "min_value": 0, "max_value": 5000, "mostly": 0.999},
              blocking=False),
        Check("ExpectColumnValuesToBeInSet", {"column": "codec", "value_set": KNOWN_CODECS, "mostly": 0.99}, blocking=False),
        references("call_id", "calls"),
        references("participant_id", "call_participants"),
    ]),
    Gate("usage_records", "recorded_at", freshness=True, checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "idempotency_key"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0}),
        Check("ExpectColumnValuesToBeInSet", {"column": "metric", "value_set": [
            "call_minutes", "ai_calls", "recording_minutes", "storage_gb_hours", "transcription_minutes", "seats"]}),
        # Partitioned: no foreign key enforces this one.
        references("organization_id", "organizations"),
    ]),
    # AI usage and the audit log may legitimately be quiet (no AI customers yet, a weekend): stale is a warning.
    Gate("ai_usage", "occurred_at", freshness=False, checks=[
        Check("ExpectColumnValuesToBeInSet", {"column": "feature", "value_set": ["stt", "tts", "llm", "agents"]}),
        Check("ExpectColumnValuesToBeBetween", {"column": "cost_usd", "min_value": 0}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "model"}),
        references("organization_id", "organizations"),
    ]),
    Gate("audit_logs", "occurred_at", freshness=False, checks=[
        Check("ExpectColumnValuesToBeInSet", {"column": "severity", "value_set": ["info", "warning", "error", "critical"]}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "action"}),
    ]),
]
GATES = SOURCE_GATES  # the name before the analytics gates existed

# fct_call_quality has one row per call for all history and no index on call_date: probe it by call id for
# the calls of the window (calls_started_idx, then its unique call_id index), as the dbt model itself does.
_WINDOW_CALLS = "SELECT id FROM calls WHERE started_at >= {end} - interval '{days} days' AND started_at < {end}"
_RECENT_CALL_QUALITY = f"SELECT * FROM analytics.fct_call_quality WHERE call_id = ANY (ARRAY({_WINDOW_CALLS}))"



def last_day_covered(source: str, time_column: str, description: str) -> Check:
    """Volume: every organization with ``source`` rows on its last local day that had ended by the
    interval's end has a row for that day in the batch (a mart keyed by organization_id and usage_date, on
    the organizations' local days: org_local_date(), migration 1500)."""
    query = ("SELECT d.organization_id, d.usage_date FROM (SELECT o.id AS organization_id, "
             "org_local_date(o.id, {end}) - 1 AS usage_date FROM organizations AS o) AS d "
             "LEFT JOIN {batch} AS b ON b.organization_id = d.organization_id AND b.usage_date = d.usage_date "
             f"WHERE b.organization_id IS NULL AND EXISTS (SELECT 1 FROM {source} AS s "
             f"WHERE s.organization_id = d.organization_id "
             f"AND s.{time_column} >= org_local_day_start(d.organization_id, d.usage_date) "
             f"AND s.{time_column} < org_local_day_start(d.organization_id, d.usage_date + 1))")
    return Check("UnexpectedRowsExpectation", {"unexpected_rows_query": query}, column="usage_date",
                 description=description)



# The marts' categorical domains (buckets, period types, plans) and keys are dbt's tests (models/marts/_marts.yml),
# checked as each model builds; the ranges, volumes and references on the window are checked here, once.
ANALYTICS_GATES: list[Gate] = [
    Gate("analytics.fct_call_quality", "call_date", window=_RECENT_CALL_QUALITY, checks=[
        # Volume: every call of the window with a participant whose telemetry ended by the night's end has
        # its row, as the model builds it (an incremental run that missed new samples leaves calls out; a
        # call begun just before midnight whose samples come later is the next night's).
        Check("UnexpectedRowsExpectation", {"unexpected_rows_query": (
            "SELECT c.id AS call_id FROM calls AS c LEFT JOIN {batch} AS b ON b.call_id = c.id "
            "WHERE c.started_at >= {end} - interval '{days} days' AND c.started_at < {end} "
            "AND EXISTS (SELECT 1 FROM call_quality_samples AS s WHERE s.call_id = c.id "
            "GROUP BY s.participant_id HAVING max(s.sampled_at) < {end}) AND b.call_id IS NULL")},
            column="call_id", description="volume: every call of the window with telemetry ended by the night's end has a row"),
        *not_null("call_id", "organization_id", "call_date"),
        between("avg_mos", 1, 4.5),
        between("worst_participant_mos", 1, 4.5),
        between("avg_packet_loss", 0, 1),
        references("call_id", "calls"),
        references("organization_id", "organizations"),
    ]),
    Gate("analytics.daily_usage_summary", "usage_date", time_is_date=True, checks=[
        # Volume: each organization metered on the night's day has that day's row.
        last_day_covered("usage_records", "recorded_at",
                         "volume: every organization metered on the night's day has its row"),
        *not_null("organization_id", "usage_date"),
        *non_negative("call_minutes", "ai_calls", "ai_cost_usd", "ai_recorded_cost_usd", "total_cost_usd"),
        references("organization_id", "organizations"),
    ]),
    Gate("analytics.organization_analytics_summary", "period_start", window_days=62, time_is_date=True, checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *not_null("organization_id", "period_type", "period_start"),
        between("avg_mos", 1, 4.5),
        *non_negative("calls", "call_minutes", "ai_cost_usd", "total_cost_usd", "billed_usd"),
        references("organization_id", "organizations"),
    ]),
    Gate("analytics.monthly_costs", "month", window_days=62, time_is_date=True, checks=[
        Check("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *not_null("organization_id", "month", "plan", "total_usd"),
        *non_negative("base_fee_usd", "overage_minutes_usd", "overage_ai_calls_usd", "ai_provider_cost_usd",
                      "ai_list_cost_usd", "total_usd"),
        references("organization_id", "organizations"),
    ]),
    Gate("analytics.fct_ai_usage_daily", "usage_date", time_is_date=True, checks=[
        *not_null("organization_id", "usage_date", "feature", "model"),
        *non_negative("requests", "recorded_cost_usd", "list_cost_usd"),
        references("organization_id", "organizations"),
    ]),
    # The table the ai_usage_costs job writes from the mart above.
    Gate("ai_usage_analytics", "usage_date", time_is_date=True, checks=[
        last_day_covered("ai_usage", "occurred_at",
                         "volume: every organization with AI usage on the night's day has rows"),
        *non_negative("requests", "units", "recorded_cost_usd", "list_cost_usd"),
        references("organization_id", "organizations"),
    ]),
]

PHASES: dict[str, list[Gate]] = {"source": SOURCE_GATES, "analytics": ANALYTICS_GATES}
