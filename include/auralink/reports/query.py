"""Run a validated report definition: SQL assembled only from allow-list constants, values bound."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from auralink.reports.definition import AGGREGATIONS, OPERATORS, SOURCES, ReportDefinition


@dataclass
class ReportData:
    columns: list[str]            # dimensions, then metrics (agg_column)
    dimensions: list[str]
    metrics: list[str]
    rows: list[tuple[Any, ...]]
    first_day: dt.date
    last_day: dt.date
    timezone: str


def build_query(defn: ReportDefinition) -> str:
    """The SQL text (with %(name)s placeholders) for ``defn``; every fragment comes from SOURCES."""
    src = SOURCES[defn.source]
    select, group = [], []
    for i, d in enumerate(defn.dimensions):
        select.append(f"{src.dimensions[d]} AS d{i}")
        group.append(str(i + 1))
    joins: list[str] = []
    for i, m in enumerate(defn.metrics):
        col = src.metrics[m.column]
        agg = AGGREGATIONS[m.agg]
        expr = f"{agg}(*)" if m.agg == "count" else f"round(({agg}({col.expr}))::numeric, 4)"
        select.append(f"{expr} AS m{i}")
        joins += [src.joins[j] for j in col.joins if src.joins[j] not in joins]
    where = [f"{src.org_column} = %(org)s", f"{src.time_column} >= %(start)s", f"{src.time_column} < %(end)s"]
    for i, f in enumerate(defn.filters):
        expr = src.filters[f.column].expr
        if f.op in ("in", "not in"):
            where.append(f"{'NOT ' if f.op == 'not in' else ''}({expr} = ANY(%(f{i})s))")
        else:
            where.append(f"{expr} {OPERATORS[f.op]} %(f{i})s")
    sql = f"SELECT {', '.join(select)} FROM {src.table} {' '.join(joins)} WHERE {' AND '.join(where)}"
    if group:
        sql += f" GROUP BY {', '.join(group)} ORDER BY {', '.join(group)}"
    return sql + f" LIMIT {int(defn.limit)}"


def run_report(conn: psycopg.Connection, defn: ReportDefinition, organization_id: uuid.UUID | str, timezone: str,
               as_of: dt.datetime) -> ReportData:
    """The report's rows for the date range that ends the day before ``as_of``, in the organization's local
    days (org_local_date(), as the marts); ``timezone`` is the zone the report is labelled with."""
    org = uuid.UUID(str(organization_id))
    today = conn.execute("SELECT org_local_date(%s, %s)", (org, as_of)).fetchone()[0]
    first, last = defn.date_range(today)
    start, end = conn.execute("SELECT org_local_day_start(%(org)s, %(first)s), org_local_day_start(%(org)s, %(after)s)",
                              {"org": org, "first": first, "after": last + dt.timedelta(days=1)}).fetchone()
    params: dict[str, Any] = {"org": org, "tz": timezone, "start": start, "end": end}
    for i, f in enumerate(defn.filters):
        params[f"f{i}"] = f.value
    rows = conn.execute(build_query(defn), params).fetchall()
    metric_names = [m.name for m in defn.metrics]
    return ReportData(list(defn.dimensions) + metric_names, list(defn.dimensions), metric_names,
                      [tuple(_plain(v) for v in r) for r in rows], first, last, timezone)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)
    return value
