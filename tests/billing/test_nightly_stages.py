"""The billing, insight, report and security jobs for the seed's night, in the night's order, twice: the
second run changes nothing."""

from __future__ import annotations

import datetime as dt

from auralink.jobs import nightly_jobs, run_job
from auralink.jobs.interval import DataInterval

NIGHT = DataInterval.for_day(dt.date(2026, 11, 20))  # the seed's last day

MINE = ["generate_invoices", "refresh_cost_insights", "detect_security_events", "generate_due_reports"]
TABLES = ["invoices", "invoice_line_items", "cost_optimization_insights", "security_events", "report_runs"]


def counts(conn):
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_jobs_registered_in_their_stages():
    stages = {j.name: j.stage for j in nightly_jobs()}
    assert {n: stages[n] for n in MINE} == {"generate_invoices": 40, "refresh_cost_insights": 40,
                                            "detect_security_events": 50, "generate_due_reports": 50}


def test_nightly_twice_on_seed(seeded_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_REPORTS_URL", str(tmp_path / "reports"))
    # the first detection run must reach back over the whole seed
    monkeypatch.setenv("AURALINK_SECURITY_INITIAL_LOOKBACK_DAYS", "36500")
    order = [j.name for j in nightly_jobs() if j.name in MINE]
    for name in order:
        out = run_job(name, interval=NIGHT)
        assert out["status"] == "succeeded", (name, out)
    first = counts(seeded_db)
    assert first["invoices"] > 0 and first["security_events"] > 0 and first["report_runs"] > 0
    for name in order:
        assert run_job(name, interval=NIGHT)["status"] == "succeeded"
    assert counts(seeded_db) == first
    # every finalized invoice agrees with calculate_monthly_costs
    mismatches = seeded_db.execute(
        """SELECT i.organization_id, i.period_start FROM invoices i
           CROSS JOIN LATERAL calculate_monthly_costs(i.organization_id, i.period_start) c
           WHERE i.status = 'finalized' AND i.total_usd <> c.total_usd""").fetchall()
    assert mismatches == []
