"""The nightly job: incremental from its watermark, idempotent, and finds the seed's planted patterns."""

from __future__ import annotations

import datetime as dt

from auralink.jobs import run_job
from auralink.jobs.interval import DataInterval


def test_job_on_seed_finds_patterns_and_is_idempotent(seeded_db):
    night = DataInterval.for_day(dt.date(2026, 11, 20))  # the seed's last day: detection up to its end
    first = run_job("detect_security_events", interval=night)
    assert first["status"] == "succeeded"
    rules = {r for (r,) in seeded_db.execute("SELECT DISTINCT rule FROM security_events").fetchall()}
    assert rules, "the seed plants suspicious patterns"
    assert rules <= {"failed_login_burst", "privilege_escalation", "mass_export", "mass_deletion",
                     "admin_new_location", "api_key_after_hours"}
    count = seeded_db.execute("SELECT count(*) FROM security_events").fetchone()[0]
    second = run_job("detect_security_events", interval=night)
    assert second["new_events"] == 0
    assert seeded_db.execute("SELECT count(*) FROM security_events").fetchone()[0] == count
    # the second run started from the watermark less the overlap, not from 30 days back
    assert dt.datetime.fromisoformat(second["since"]) == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    by_rule = dict(seeded_db.execute("SELECT rule, count(*) FROM security_events GROUP BY rule").fetchall())
    print(by_rule)
