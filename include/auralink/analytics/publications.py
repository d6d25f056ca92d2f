"""The nights the analytics tables hold, from the Asset events the nightly quality gate emits.

The DAG ``analytics_published`` is scheduled on the analytics Assets (Airflow creates its run once every
one of them got an event); its task hands the triggering events here, which records per table the night
the event names (``extra``: ``interval_start`` / ``interval_end``, set by the producing task), so
dashboards can say "data as of". A re-delivered event changes nothing but ``published_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from auralink.db.connection import connect


@dataclass(frozen=True)
class Publication:
    table_name: str
    asset_uri: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    source_dag_id: str | None = None
    source_run_id: str | None = None


def from_event(table_name: str, asset_uri: str, extra: dict, source_dag_id: str | None = None,
               source_run_id: str | None = None) -> Publication | None:
    """A publication from one Asset event, or None when the event names no night (e.g. a manual event)."""
    try:
        start = dt.datetime.fromisoformat(str(extra["interval_start"]))
        end = dt.datetime.fromisoformat(str(extra["interval_end"]))
    except (KeyError, ValueError):
        return None
    return Publication(table_name, asset_uri, start, end, source_dag_id, source_run_id)


def record(publications: Iterable[Publication], url: str | None = None) -> int:
    rows = [(p.table_name, p.interval_start, p.interval_end, p.asset_uri, p.source_dag_id, p.source_run_id)
            for p in publications]
    if not rows:
        return 0
    with connect(url, application_name="auralink:analytics_published") as conn:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO analytics_publications
                       (table_name, interval_start, interval_end, asset_uri, source_dag_id, source_run_id)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (table_name, interval_start, interval_end) DO UPDATE
                   SET asset_uri = EXCLUDED.asset_uri, source_dag_id = EXCLUDED.source_dag_id,
                       source_run_id = EXCLUDED.source_run_id, published_at = now()""", rows)
        conn.commit()
    return len(rows)


def latest(url: str | None = None) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """table -> the newest night it holds."""
    with connect(url, autocommit=True) as conn:
        return {t: (s, e) for t, s, e in conn.execute(
            "SELECT DISTINCT ON (table_name) table_name, interval_start, interval_end FROM analytics_publications "
            "ORDER BY table_name, interval_end DESC").fetchall()}
