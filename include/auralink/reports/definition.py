"""Report definitions: declarative, validated against an allow-list, never SQL.

A definition names metrics (an allowed column and an allowed aggregation), dimensions, filters (allowed
column, allowed operator, a typed value), a date range and a chart. Every SQL fragment a report can use
is a constant in :data:`SOURCES`; user values only ever reach the database as bind parameters. A
definition that tries anything else gets a :class:`ReportDefinitionError` naming the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from auralink import safejson


class ReportDefinitionError(ValueError):
    """The definition is not acceptable; the message says which field and what is allowed."""


@dataclass(frozen=True)
class MetricColumn:
    expr: str                      # SQL over the source's alias; a constant, never user input
    aggs: tuple[str, ...]
    joins: tuple[str, ...] = ()    # names in Source.joins this column needs


@dataclass(frozen=True)
class FilterColumn:
    expr: str
    kind: str                      # 'text' or 'number'
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Source:
    name: str
    table: str                     # "<table> <alias>"
    org_column: str
    time_column: str
    metrics: dict[str, MetricColumn]
    dimensions: dict[str, str]     # name -> SQL; %(tz)s is the organization's time zone (a bind parameter)
    filters: dict[str, FilterColumn]
    joins: dict[str, str] = field(default_factory=dict)


AGGREGATIONS = {"sum": "sum", "avg": "avg", "min": "min", "max": "max", "count": "count"}
OPERATORS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "IN", "not in": "NOT IN"}
CHART_TYPES = ("line", "bar", "pie", "none")
FORMATS = ("csv", "json", "pdf")
MAX_DAYS = 366
MAX_ROWS = 10_000
# The document's own bounds. A legal definition nests 4 deep (filters[i].value list) and is a few KiB;
# the database trigger of migration 1150 refuses writes past the same size and depth.
MAX_DEFINITION_BYTES = 64 * 1024
MAX_DEFINITION_DEPTH = 8
LIMITS = safejson.Limits(max_bytes=MAX_DEFINITION_BYTES, max_depth=MAX_DEFINITION_DEPTH, max_items=100,
                         max_string=200)


def _time_dims(col: str) -> dict[str, str]:
    # Days, weeks and months by org_local_date() (migration 1500), the rule the marts and invoices use, so a
    # report's days are the dashboards' days (the zone in force at each instant); hours in today's zone.
    day = f"org_local_date(%(org)s, {col})"
    local = f"({col} AT TIME ZONE %(tz)s)"
    return {"day": day, "week": f"date_trunc('week', {day})::date",
            "month": f"date_trunc('month', {day})::date", "hour": f"extract(hour FROM {local})::int",
            "weekday": f"extract(isodow FROM {day})::int"}


# A simplified ITU-T G.107 E-model: MOS from a call's mean round-trip time, jitter and packet loss.
_MOS = ("CASE WHEN qr.r IS NULL THEN NULL WHEN qr.r < 0 THEN 1.0 WHEN qr.r > 100 THEN 4.5 "
        "ELSE 1 + 0.035 * qr.r + 0.000007 * qr.r * (qr.r - 60) * (100 - qr.r) END")
_QUALITY_JOIN = (
    "LEFT JOIN LATERAL (SELECT avg(q.rtt_ms) AS rtt, avg(q.jitter_ms) AS jitter, avg(q.packet_loss) AS loss "
    "FROM call_quality_samples q WHERE q.call_id = c.id) qs ON true "
    "LEFT JOIN LATERAL (SELECT 93.2 - CASE WHEN qs.rtt / 2 + 2 * qs.jitter + 10 < 160 "
    "THEN (qs.rtt / 2 + 2 * qs.jitter + 10) / 40 ELSE (qs.rtt / 2 + 2 * qs.jitter + 10 - 120) / 10 END "
    "- 2.5 * qs.loss * 100 AS r) qr ON true")

_NUM = ("sum", "avg", "min", "max")
SOURCES: dict[str, Source] = {
    "calls": Source(
        name="calls", table="calls c", org_column="c.organization_id", time_column="c.started_at",
        metrics={
            "calls": MetricColumn("1", ("sum", "count")),
            "call_minutes": MetricColumn("c.duration_seconds / 60.0", _NUM),
            "duration_seconds": MetricColumn("c.duration_seconds", _NUM),
            "participants": MetricColumn("(SELECT count(*) FROM call_participants p WHERE p.call_id = c.id)", _NUM),
            "mos": MetricColumn(_MOS, ("avg", "min", "max"), ("quality",)),
        },
        dimensions={**_time_dims("c.started_at"), "call_type": "c.call_type", "status": "c.status",
                    "region": "c.region"},
        filters={
            "call_type": FilterColumn("c.call_type", "text", ("audio", "video", "screen_share")),
            "status": FilterColumn("c.status", "text", ("in_progress", "completed", "failed", "missed")),
            "region": FilterColumn("c.region", "text"),
            "call_minutes": FilterColumn("c.duration_seconds / 60.0", "number"),
            "duration_seconds": FilterColumn("c.duration_seconds", "number"),
        },
        joins={"quality": _QUALITY_JOIN},
    ),
    "ai_usage": Source(
        name="ai_usage", table="ai_usage a", org_column="a.organization_id", time_column="a.occurred_at",
        metrics={
            "ai_requests": MetricColumn("1", ("sum", "count")),
            "ai_cost_usd": MetricColumn("a.cost_usd", _NUM),
            "ai_units": MetricColumn("a.units", _NUM),
            "input_tokens": MetricColumn("a.input_tokens", _NUM),
            "output_tokens": MetricColumn("a.output_tokens", _NUM),
        },
        dimensions={**_time_dims("a.occurred_at"), "feature": "a.feature", "provider": "a.provider",
                    "model": "a.model"},
        filters={
            "feature": FilterColumn("a.feature", "text", ("stt", "tts", "llm", "agents")),
            "provider": FilterColumn("a.provider", "text"),
            "model": FilterColumn("a.model", "text"),
            "ai_cost_usd": FilterColumn("a.cost_usd", "number"),
        },
    ),
}

_TOP_KEYS = {"source", "metrics", "dimensions", "filters", "date_range", "chart", "limit", "title"}
_SQL_KEYS = {"sql", "query", "raw_sql", "where", "having", "expression", "select", "from", "order_by"}


@dataclass(frozen=True)
class Metric:
    column: str
    agg: str

    @property
    def name(self) -> str:
        return f"{self.agg}_{self.column}"


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class ReportDefinition:
    source: str
    metrics: tuple[Metric, ...]
    dimensions: tuple[str, ...]
    filters: tuple[Filter, ...]
    last_days: int | None
    start: dt.date | None
    end: dt.date | None          # inclusive
    chart: str
    limit: int
    title: str | None = None
    chart_title: str | None = None

    def date_range(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """[first, last] local dates covered when run on ``today`` (last_days means the N days before today)."""
        if self.last_days is not None:
            return today - dt.timedelta(days=self.last_days), today - dt.timedelta(days=1)
        assert self.start is not None and self.end is not None
        return self.start, self.end


def _fail(path: str, message: str) -> ReportDefinitionError:
    return ReportDefinitionError(f"{path}: {message}")


def _allowed(names) -> str:
    return ", ".join(sorted(names))


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, got {type(value).__name__}")
    return value


def _limit_error(exc: safejson.JsonLimitError) -> ReportDefinitionError:
    return ReportDefinitionError(f"{exc.path}: {exc.reason}" if exc.path else f"definition {exc.reason}")


def parse_definition_text(text: str | bytes) -> Any:
    """JSON text of a definition, parsed within :data:`LIMITS` (not yet checked against the allow-list)."""
    try:
        return safejson.loads(text, LIMITS)
    except safejson.JsonLimitError as exc:
        raise _limit_error(exc) from None


def validate(raw: Any) -> ReportDefinition:
    """Check a definition (a dict or JSON text) against the allow-list; raises ReportDefinitionError."""
    if isinstance(raw, (str, bytes, bytearray)):
        raw = parse_definition_text(raw)
    else:
        try:
            safejson.check(raw, LIMITS)
        except safejson.JsonLimitError as exc:
            raise _limit_error(exc) from None
    if not isinstance(raw, dict):
        raise ReportDefinitionError("definition must be a JSON object")
    sql_keys = {k for k in raw if isinstance(k, str) and k.lower() in _SQL_KEYS}
    if sql_keys:
        raise ReportDefinitionError(
            f"raw SQL is not accepted in a report definition (found {_allowed(sql_keys)}); "
            "describe the report with metrics, dimensions, filters and date_range")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ReportDefinitionError(f"unknown key(s) {_allowed(map(str, unknown))}; allowed: {_allowed(_TOP_KEYS)}")

    metrics_raw = raw.get("metrics")
    if not isinstance(metrics_raw, list) or not 1 <= len(metrics_raw) <= 10:
        raise _fail("metrics", "must be a list of 1 to 10 {column, agg} objects")
    source_name = raw.get("source")
    if source_name is None:     # inferred from the first metric's column
        first = metrics_raw[0].get("column") if isinstance(metrics_raw[0], dict) else None
        first = first if isinstance(first, str) else None   # a list here is unhashable: no source has it
        source_name = next((s.name for s in SOURCES.values() if first in s.metrics), None)
        if source_name is None:
            all_cols = {c for s in SOURCES.values() for c in s.metrics}
            raise _fail("metrics[0].column", f"{first!r} is not an allowed column; allowed: {_allowed(all_cols)}")
    source_name = _name(source_name, "source")
    if source_name not in SOURCES:
        raise _fail("source", f"{source_name!r} is not an allowed source; allowed: {_allowed(SOURCES)}")
    src = SOURCES[source_name]

    metrics = []
    for i, m in enumerate(metrics_raw):
        path = f"metrics[{i}]"
        if not isinstance(m, dict) or set(m) - {"column", "agg"} or "column" not in m:
            raise _fail(path, "must be an object with 'column' and 'agg'")
        col = _name(m["column"], f"{path}.column")
        if col not in src.metrics:
            raise _fail(f"{path}.column", f"{col!r} is not an allowed column of {src.name}; "
                                          f"allowed: {_allowed(src.metrics)}")
        agg = _name(m.get("agg", "sum"), f"{path}.agg")
        if agg not in src.metrics[col].aggs:
            raise _fail(f"{path}.agg", f"{agg!r} is not an allowed aggregation of {col}; "
                                       f"allowed: {_allowed(src.metrics[col].aggs)}")
        metrics.append(Metric(col, agg))
    if len({m.name for m in metrics}) != len(metrics):
        raise _fail("metrics", "the same column and aggregation appear twice")

    dims_raw = raw.get("dimensions", [])
    if not isinstance(dims_raw, list) or len(dims_raw) > 3:
        raise _fail("dimensions", "must be a list of at most 3 names")
    dims = []
    for i, d in enumerate(dims_raw):
        d = _name(d, f"dimensions[{i}]")
        if d not in src.dimensions:
            raise _fail(f"dimensions[{i}]", f"{d!r} is not an allowed dimension of {src.name}; "
                                            f"allowed: {_allowed(src.dimensions)}")
        if d in dims:
            raise _fail(f"dimensions[{i}]", f"{d!r} appears twice")
        dims.append(d)

    filters_raw = raw.get("filters", [])
    if not isinstance(filters_raw, list) or len(filters_raw) > 10:
        raise _fail("filters", "must be a list of at most 10 {column, op, value} objects")
    filters = [_filter(f, f"filters[{i}]", src) for i, f in enumerate(filters_raw)]

    last_days, start, end = _date_range(raw.get("date_range", {"last_days": 30}))

    chart_raw = raw.get("chart", {"type": "none"})
    if not isinstance(chart_raw, dict) or set(chart_raw) - {"type", "title"}:
        raise _fail("chart", "must be an object like {\"type\": \"line\"}")
    chart = _name(chart_raw.get("type", "none"), "chart.type")
    chart_title = chart_raw.get("title")
    if chart_title is not None and (not isinstance(chart_title, str) or len(chart_title) > 200):
        raise _fail("chart.title", "must be a string of at most 200 characters")
    if chart not in CHART_TYPES:
        raise _fail("chart.type", f"{chart!r} is not allowed; allowed: {_allowed(CHART_TYPES)}")

    limit = raw.get("limit", MAX_ROWS)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ROWS:
        raise _fail("limit", f"must be an integer from 1 to {MAX_ROWS}")
    title = raw.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise _fail("title", "must be a string of at most 200 characters")
    return ReportDefinition(src.name, tuple(metrics), tuple(dims), tuple(filters), last_days, start, end, chart,
                            limit, title, chart_title)


def _filter(f: Any, path: str, src: Source) -> Filter:
    if not isinstance(f, dict) or set(f) != {"column", "op", "value"}:
        raise _fail(path, "must be an object with exactly 'column', 'op' and 'value'")
    col = _name(f["column"], f"{path}.column")
    if col not in src.filters:
        raise _fail(f"{path}.column", f"{col!r} is not a filterable column of {src.name}; "
                                      f"allowed: {_allowed(src.filters)}")
    spec = src.filters[col]
    op = _name(f["op"], f"{path}.op").lower().replace("not_in", "not in")
    if op not in OPERATORS:
        raise _fail(f"{path}.op", f"{f['op']!r} is not an allowed operator; allowed: {_allowed(OPERATORS)}")
    if spec.kind == "text" and op not in ("=", "!=", "in", "not in"):
        raise _fail(f"{path}.op", f"{op!r} does not apply to text column {col}; use =, !=, in, not in")
    values = f["value"] if op in ("in", "not in") else [f["value"]]
    if op in ("in", "not in") and (not isinstance(values, list) or not 1 <= len(values) <= 100):
        raise _fail(f"{path}.value", f"operator {op!r} takes a list of 1 to 100 values")
    for v in values:
        if spec.kind == "number":
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise _fail(f"{path}.value", f"{col} is numeric; {v!r} is not a number")
        else:
            if not isinstance(v, str) or len(v) > 200:
                raise _fail(f"{path}.value", f"{col} takes strings of at most 200 characters, not {v!r}")
            if spec.choices is not None and v not in spec.choices:
                raise _fail(f"{path}.value", f"{v!r} is not a value of {col}; allowed: {_allowed(spec.choices)}")
    return Filter(col, op, list(values) if op in ("in", "not in") else values[0])


def _date_range(raw: Any) -> tuple[int | None, dt.date | None, dt.date | None]:
    if not isinstance(raw, dict):
        raise _fail("date_range", "must be {\"last_days\": N} or {\"start\": date, \"end\": date}")
    if set(raw) == {"last_days"}:
        n = raw["last_days"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DAYS:
            raise _fail("date_range.last_days", f"must be an integer from 1 to {MAX_DAYS}")
        return n, None, None
    if set(raw) == {"start", "end"}:
        try:
            start, end = dt.date.fromisoformat(str(raw["start"])), dt.date.fromisoformat(str(raw["end"]))
        except ValueError:
            raise _fail("date_range", "start and end must be dates (YYYY-MM-DD)") from None
        if end < start or (end - start).days >= MAX_DAYS:
            raise _fail("date_range", f"end must be on or after start, at most {MAX_DAYS} days apart")
        return None, start, end
    raise _fail("date_range", "must be {\"last_days\": N} or {\"start\": date, \"end\": date}")


def validate_formats(formats: Any) -> tuple[str, ...]:
    if not isinstance(formats, (list, tuple)) or not formats:
        raise ReportDefinitionError(f"formats must be a non-empty list among {', '.join(FORMATS)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportDefinitionError(f"format(s) {', '.join(map(str, bad))} not supported; allowed: {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(formats))


def allow_list() -> dict[str, Any]:
    """The allow-list as data (docs, `auralink reports columns`)."""
    return {name: {"metrics": {c: list(m.aggs) for c, m in s.metrics.items()},
                   "dimensions": sorted(s.dimensions),
                   "filters": {c: ({"type": f.kind, "values": list(f.choices)} if f.choices else {"type": f.kind})
                               for c, f in s.filters.items()}}
            for name, s in SOURCES.items()}
