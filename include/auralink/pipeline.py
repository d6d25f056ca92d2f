"""The nightly pipeline as one command: every job registered with a stage, in stage order.

Airflow and Argo run the same jobs as separate tasks/steps; this is the one-machine path the demo
and `auralink pipeline run` use.
"""

from __future__ import annotations

import logging
from typing import Any

from auralink.jobs import nightly_jobs, run_job

log = logging.getLogger(__name__)

# What the demo prints afterwards: the tables and views the pipeline fills.
PRODUCED = [
    "transcriptions", "call_summaries", "call_quality_reports", "ai_usage", "ai_usage_analytics",
    "analytics.organization_analytics_summary", "analytics.daily_usage_summary", "analytics.fct_call_quality",
    "analytics.monthly_costs", "invoices", "invoice_line_items", "cost_optimization_insights",
    "security_events", "report_runs", "compliance_requests", "audit_log_archives", "retention_runs",
]


def run_pipeline(*, triggered_by: str = "cli", stop_on_error: bool = True, url: str | None = None,
                 from_stage: int | None = None, to_stage: int | None = None,
                 skip_stages: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """Run the nightly jobs whose stage lies in [from_stage, to_stage] and is not skipped, in stage order."""
    results = []
    for j in nightly_jobs():
        assert j.stage is not None  # nightly jobs always have one
        if ((from_stage is not None and j.stage < from_stage) or (to_stage is not None and j.stage > to_stage)
                or j.stage in skip_stages):
            continue
        log.info("pipeline: stage %s job %s", j.stage, j.name)
        try:
            stats = run_job(j.name, triggered_by=triggered_by, url=url)
            results.append({"job": j.name, "stage": j.stage, **stats})
        except Exception as exc:  # noqa: BLE001 - recorded on job_runs; reported here, then stop or go on
            log.error("pipeline: job %s failed: %s", j.name, exc)
            results.append({"job": j.name, "stage": j.stage, "status": "failed", "error": str(exc)})
            if stop_on_error:
                break
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
    counts = seed_database(SeedConfig(orgs=orgs, days=days, seed=seed), url=url, progress=True, reset=True)
    print("seeded: " + ", ".join(f"{t}={n:,}" for t, n in counts.items()))
    results = run_pipeline(triggered_by="demo", stop_on_error=False, url=url)
    print("\npipeline:")
    for r in results:
        items = r.get("items", {})
        extra = f" failed items={items.get('failed')}" if items.get("failed") else ""
        print(f"  [{r['stage']:>2}] {r['job']:32s} {r['status']}{extra}" + (f"  {r['error']}" if r.get("error") else ""))
        if r["status"] == "partial":   # the seed plants bad recordings and a legal hold: show what they did
            for item_type, item_id, reason in failed_items(r["run_id"], url=url):
                print(f"         {item_type} {item_id}: {reason}")
    print("\nproduced:")
    for name, n in produced_counts(url).items():
        print(f"  {name:45s} {n:>10,d}")
    return 0 if all(r["status"] != "failed" for r in results) else 1
