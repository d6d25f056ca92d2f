"""The nightly graph as one command: ``auralink pipeline run [--date D] [--select ...] [--exclude ...]``.

Runs the jobs of the nightly graph (auralink.jobs.graph) in topological order, each for the same night.
A failed job skips everything downstream of it (``upstream_failed``, as Airflow does) and the independent
branches go on. Airflow and Argo run the same graph as tasks and steps; this is the one-machine path the
demo, the tests and a laptop use.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from auralink.jobs import graph, run_job
from auralink.jobs.interval import DataInterval, latest_night

log = logging.getLogger(__name__)

# What the demo prints afterwards: the tables and views the pipeline fills.
PRODUCED = [
    "transcriptions", "call_summaries", "call_quality_reports", "ai_usage", "ai_usage_analytics",
    "analytics.organization_analytics_summary", "analytics.daily_usage_summary", "analytics.fct_call_quality",
    "analytics.monthly_costs", "invoices", "invoice_line_items", "cost_optimization_insights",
    "security_events", "report_runs", "compliance_requests", "audit_log_archives", "retention_runs",
]


def run_pipeline(*, interval: DataInterval | None = None, select: list[str] | None = None,
                 exclude: list[str] | None = None, fail_fast: bool = False, triggered_by: str = "cli",
                 url: str | None = None, pipeline: str = "nightly") -> list[dict[str, Any]]:
    """Run the selected jobs of ``pipeline`` for ``interval`` (default: the current night), upstream first.

    ``select``/``exclude`` take job names with dbt's graph operators (``+job``, ``job+``). A job whose
    upstream failed (within the selection) is not run; ``fail_fast`` stops at the first failure.
    """
    interval = interval or latest_night()
    jobs = graph.select(pipeline, select, exclude)
    started = _database_now(url)  # another night of this date that finishes a job after this: done once
    upstream = {j.name: graph.upstream_of(j) for j in jobs}
    failed: set[str] = set()
    results: list[dict[str, Any]] = []
    for j in jobs:
        broken = [u for u in upstream[j.name] if u in failed]
        if broken or (fail_fast and failed):
            failed.add(j.name)
            results.append({"job": j.name, "stage": j.stage, "status": "upstream_failed",
                            "error": f"upstream {', '.join(broken) or 'job'} failed"})
            continue
        log.info("pipeline %s: %s", interval, j.name)
        try:
            stats = run_job(j.name, interval=interval, triggered_by=triggered_by, url=url, night_started=started)
            results.append({"job": j.name, "stage": j.stage, **stats})
        except Exception as exc:  # noqa: BLE001 - recorded on job_runs; reported here, downstream skipped
            log.error("pipeline: job %s failed: %s", j.name, exc)
            failed.add(j.name)
            results.append({"job": j.name, "stage": j.stage, "status": "failed", "error": str(exc)})
    return results


def _database_now(url: str | None) -> dt.datetime:
    from auralink.db.connection import connect, scalar

    with connect(url, autocommit=True) as conn:
        return scalar(conn, "SELECT now()")


def backfill(first: dt.date, last: dt.date, **kwargs: Any) -> list[dict[str, Any]]:
    """The nights ``first`` .. ``last`` one after the other (oldest first), as a backfill in Airflow runs
    them: each processes its own day; current-only jobs skip the past ones. Returns every night's results."""
    if last < first:
        raise ValueError(f"backfill from {first} to {last}: the last night is before the first")
    results = []
    day = first
    while day <= last:
        for r in run_pipeline(interval=DataInterval.for_day(day), **kwargs):
            results.append({"night": day.isoformat(), **r})
        day += dt.timedelta(days=1)
    return results


def failed_items(run_id: int, *, url: str | None = None, limit: int = 5) -> list[tuple[str, str, str]]:
    """(item type, id, reason) of the items a run recorded as failed."""
    from auralink.db.connection import connect

    with connect(url, autocommit=True) as conn:
        return conn.execute(
            """SELECT item_type, item_id, coalesce(reason, '') FROM job_run_items
               WHERE job_run_id = %s AND outcome = 'failed' ORDER BY id LIMIT %s""", (run_id, limit)).fetchall()


def produced_counts(url: str | None = None) -> dict[str, int]:
    from auralink.db.connection import connect, scalar

    counts: dict[str, int] = {}
    with connect(url, autocommit=True) as conn:
        for name in PRODUCED:
            if scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (name,)):
                counts[name] = scalar(conn, f"SELECT count(*) FROM {name}")
    return counts


def run_demo(*, orgs: int, days: int, seed: int) -> int:
    """Migrate, seed, run the pipeline, print what it produced. Exit code 0 when every job ran."""
    from auralink.config import redact_url
    from auralink.db.connection import database_url
    from auralink.db.migrate import migrate
    from auralink.seed.generator import SeedConfig, seed_database

    url = database_url()
    print(f"database: {redact_url(url)}")
    applied = migrate(url)
    print(f"migrations applied: {len(applied)}")
    night = latest_night()  # the data ends yesterday (UTC): tonight's run processes it, as in production
    counts = seed_database(SeedConfig(orgs=orgs, days=days, seed=seed, end_date=night.day), url=url, progress=True,
                           reset=True)
    print("seeded: " + ", ".join(f"{t}={n:,}" for t, n in counts.items()))
    results = run_pipeline(interval=night, triggered_by="demo", url=url)
    print(f"\npipeline for the night of {night}:")
    for r in results:
        items = r.get("items", {})
        extra = f" failed items={items.get('failed')}" if items.get("failed") else ""
        note = r.get("error") or r.get("skipped") or ""
        print(f"  {r['job']:34s} {r['status']}{extra}" + (f"  {note}" if note else ""))
        if r["status"] == "partial":   # the seed plants bad recordings and a legal hold: show what they did
            for item_type, item_id, reason in failed_items(r["run_id"], url=url):
                print(f"         {item_type} {item_id}: {reason}")
    print("\nproduced:")
    for name, n in produced_counts(url).items():
        print(f"  {name:45s} {n:>10,d}")
    return 0 if all(r["status"] not in ("failed", "upstream_failed") for r in results) else 1
