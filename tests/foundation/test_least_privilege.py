"""The whole platform runs under a least-privilege role: one that owns its database but is no superuser.

Production databases (RDS, Cloud SQL, a DBA's server) never hand the platform a superuser, so migrate,
seed and every nightly job must work without one. The role logs in with a password, owns its own
database, and is dropped with it at the end.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tests.conftest import SMALL_SEED


@pytest.mark.slow
def test_migrate_seed_and_the_whole_nightly_pipeline_without_superuser(least_privilege_url, monkeypatch, tmp_path):
    from auralink.db.migrate import migrate
    from auralink.jobs.interval import DataInterval
    from auralink.pipeline import run_pipeline
    from auralink.seed.generator import SeedConfig, seed_database

    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")   # privileges are the point, not accuracy
    monkeypatch.setenv("AURALINK_REPORTS_URL", str(tmp_path / "reports"))
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "exports"))
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "archives"))
    with psycopg.connect(least_privilege_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)

    migrate(least_privilege_url)
    cfg = dict(SMALL_SEED, end_date=dt.date.fromisoformat(SMALL_SEED["end_date"]))
    counts = seed_database(SeedConfig(**cfg), url=least_privilege_url, progress=False)
    assert counts["calls"] > 0 and counts["call_recordings"] > 0

    night = DataInterval.for_day(cfg["end_date"])   # the seed's last day, as the nightly run after it
    results = run_pipeline(interval=night, triggered_by="test", url=least_privilege_url)
    failed = {r["job"]: r.get("error") for r in results if r["status"] in ("failed", "upstream_failed")}
    assert not failed, failed
    assert {r["job"] for r in results} >= {"transcribe_recordings", "dbt_build", "generate_invoices",
                                           "generate_due_reports", "process_compliance_requests"}
    with psycopg.connect(least_privilege_url) as conn:
        assert conn.execute("SELECT count(*) FROM transcriptions").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM analytics.daily_usage_summary").fetchone()[0] > 0
