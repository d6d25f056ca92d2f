"""The logical date drives every job: a night processes its own day, nights one by one equal one cold run,
late rows are caught at any age, past nights skip the current-only jobs, and two nights at once both
succeed without doing each other's work twice."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import psycopg
import pytest

from tests.pipeline.conftest import SEED_DAYS, marts, newest_days

pytestmark = pytest.mark.slow
UTC = dt.UTC


def test_nights_one_by_one_equal_one_cold_run_for_the_last_night(seeded_copy, analytics_nights):
    nightly, cold = seeded_copy(), seeded_copy()
    for day in SEED_DAYS:
        analytics_nights(nightly, day)
    analytics_nights(cold, SEED_DAYS[-1])  # all history up to the last night, from empty analytics
    built = marts(cold)
    assert all(rows > 0 for rows, _ in built.values()), built
    assert marts(nightly) == built


def test_a_run_for_a_day_writes_nothing_after_it(seeded_copy, analytics_nights):
    url = seeded_copy()
    day = SEED_DAYS[2]
    analytics_nights(url, day)
    newest = newest_days(url)
    assert all(d is not None and d <= day for d in newest.values()), newest
    assert newest["analytics.daily_usage_summary"] == day
    analytics_nights(url, SEED_DAYS[3])  # the next night adds its day
    assert newest_days(url)["analytics.daily_usage_summary"] == SEED_DAYS[3]


def test_late_rows_are_caught_by_the_next_night_at_any_age(seeded_copy, analytics_nights):
    incremental, cold = seeded_copy(), seeded_copy()
    for day in SEED_DAYS:
        analytics_nights(incremental, day)
    old_day = SEED_DAYS[0]
    arrived = dt.datetime(2026, 11, 21, 9, tzinfo=UTC)  # after the last night ran
    for url in (incremental, cold):  # a usage row and an AI event for the first day arrive days late
        with psycopg.connect(url, autocommit=True) as conn:
            org = conn.execute("SELECT id FROM organizations ORDER BY id LIMIT 1").fetchone()[0]
            at = dt.datetime.combine(old_day, dt.time(12), tzinfo=UTC)
            conn.execute("INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, received_at, "
                         "idempotency_key) VALUES (%s, 'call_minutes', 1234, %s, %s, 'late-row')", (org, at, arrived))
            conn.execute("INSERT INTO ai_usage (organization_id, feature, provider, model, unit_type, units, "
                         "cost_usd, occurred_at, received_at, idempotency_key) VALUES (%s, 'stt', 'openai', "
                         "'whisper-1', 'minutes', 10, 0.06, %s, %s, 'late-event')", (org, at, arrived))
    next_night = SEED_DAYS[-1] + dt.timedelta(days=1)
    analytics_nights(incremental, next_night)
    analytics_nights(cold, next_night)
    assert marts(incremental) == marts(cold)
    with psycopg.connect(incremental, autocommit=True) as conn:
        minutes = conn.execute("SELECT sum(call_minutes) FROM analytics.daily_usage_summary WHERE usage_date = %s",
                               (old_day,)).fetchone()[0]
        stt = conn.execute("SELECT sum(units) FROM ai_usage_analytics WHERE usage_date = %s AND feature = 'stt' "
                           "AND model = 'whisper-1'", (old_day,)).fetchone()[0]
    assert minutes >= 1234 and stt >= 10


def test_a_past_night_skips_the_current_only_jobs_and_records_why(seeded_url, seeded_db):
    from auralink.jobs.interval import DataInterval
    from auralink.pipeline import run_pipeline

    results = run_pipeline(interval=DataInterval.for_day(SEED_DAYS[-1]), url=seeded_url,
                           select=["process_compliance_requests", "flag_overdue_compliance_requests",
                                   "ensure_partitions", "generate_invoices"])
    status = {r["job"]: r["status"] for r in results}
    assert status == {"ensure_partitions": "skipped", "process_compliance_requests": "skipped",
                      "flag_overdue_compliance_requests": "skipped", "generate_invoices": "succeeded"}
    rows = seeded_db.execute("SELECT job_name, status, stats->>'skipped', interval_start FROM job_runs "
                             "WHERE status = 'skipped' ORDER BY job_name").fetchall()
    assert [r[0] for r in rows] == ["ensure_partitions", "flag_overdue_compliance_requests",
                                    "process_compliance_requests"]
    assert all("only for the current night" in r[2] and r[3] == dt.datetime(2026, 11, 20, tzinfo=UTC) for r in rows)


def _cli(url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "auralink.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _waiting_on_job_lock(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]


def test_two_runs_of_the_same_night_at_once_both_succeed_and_the_work_is_done_once(seeded_url, seeded_db):
    """The second waits for the first's job lock, then sees the night done meanwhile and records a skip."""
    from auralink.jobs.registry import _JOB_LOCK

    select = ["--select", "dbt_build", "--select", "ai_usage_costs"]
    holder = psycopg.connect(seeded_url, autocommit=True)  # stands for a run already busy with dbt_build
    holder.execute("SELECT pg_advisory_lock(%s, hashtext('dbt_build'))", (_JOB_LOCK,))
    procs = [_cli(seeded_url, "pipeline", "run", "--date", "2026-11-20", *select) for _ in range(2)]
    deadline = time.monotonic() + 120
    while _waiting_on_job_lock(seeded_db) < 2:
        assert time.monotonic() < deadline, [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.2)
    holder.close()  # both want it now: one builds, the other waits and then finds the night done
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    runs = seeded_db.execute("SELECT job_name, status, stats->>'skipped' FROM job_runs ORDER BY id").fetchall()
    for job in ("dbt_build", "ai_usage_costs"):
        statuses = sorted(s for j, s, _ in runs if j == job)
        assert statuses == ["skipped", "succeeded"], (job, runs)
        assert any(j == job and s == "skipped" and "finished it meanwhile" in why for j, s, why in runs)


def test_two_different_nights_at_once_both_succeed_each_with_its_day(seeded_url, seeded_db):
    select = ["--select", "dbt_build", "--select", "ai_usage_costs"]
    procs = [_cli(seeded_url, "pipeline", "run", "--date", day, *select) for day in ("2026-11-19", "2026-11-20")]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    nights = seeded_db.execute("SELECT job_name, interval_start::date, status FROM job_runs ORDER BY id").fetchall()
    assert sorted(nights) == sorted((j, d, "succeeded") for j in ("dbt_build", "ai_usage_costs")
                                    for d in (dt.date(2026, 11, 19), dt.date(2026, 11, 20)))
    assert seeded_db.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0] == \
        dt.date(2026, 11, 20)


def test_a_killed_run_is_closed_as_abandoned_by_the_next_run_of_its_job(db_url, db):
    """The run holds a session advisory lock on its own row; kill -9 frees it, and the next run sees that."""
    import signal

    from auralink import config

    env = {**os.environ, "DATABASE_URL": db_url, "AURALINK_ARCHIVE_PAUSE_AT": "after_held_moved"}
    db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-01-01')")
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES ('00000000-0000-0000-0000-00000000000a', 'A', 'a', 'pro')")
    db.execute("INSERT INTO audit_logs (organization_id, action, occurred_at) VALUES "
               "('00000000-0000-0000-0000-00000000000a', 'login', '2026-01-05')")
    marker = config.home() / "archive-paused-after_held_moved"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "auralink.cli", "jobs", "run", "archive_audit_logs",
                             "--date", "2026-11-20"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    assert db.execute("SELECT status FROM job_runs").fetchall() == [("running",)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    marker.unlink(missing_ok=True)
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval

    result = run_job("archive_audit_logs", interval=DataInterval.for_day(dt.date(2026, 11, 20)), url=db_url)
    assert result["status"] == "succeeded"
    rows = db.execute("SELECT status, error FROM job_runs ORDER BY id").fetchall()
    assert rows[0][0] == "abandoned" and "died" in rows[0][1]
    assert rows[1][0] == "succeeded"


def test_the_claims_of_a_dead_run_go_back_to_the_queue(seeded_url, seeded_db, monkeypatch):
    """A transcription run killed mid-batch leaves its recordings 'processing': the next run of the job sees
    the run's lock free, closes it as abandoned and releases what it had claimed (no 2-hour wait)."""
    from auralink.jobs import run_job
    from auralink.recordings.transcribe import run_claim_tag

    dead = seeded_db.execute("INSERT INTO job_runs (job_name, triggered_by) VALUES ('transcribe_recordings', 'test') "
                             "RETURNING id").fetchone()[0]
    claimed = [r for (r,) in seeded_db.execute(
        "UPDATE call_recordings SET status = 'processing', claimed_at = now(), claimed_by = %s WHERE id IN "
        "(SELECT id FROM call_recordings WHERE status = 'pending' ORDER BY id LIMIT 2) RETURNING id",
        (run_claim_tag(dead),)).fetchall()]
    seeded_db.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now() WHERE NOT (id = ANY(%s))",
                      (claimed,))  # speech of two recordings is enough here
    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")
    result = run_job("transcribe_recordings", {"batch_size": "5"}, url=seeded_url)
    assert result["claimed"] == 2  # released at once, then claimed again by this run
    status, error = seeded_db.execute("SELECT status, error FROM job_runs WHERE id = %s", (dead,)).fetchone()
    assert status == "abandoned" and "2 claimed item(s) released" in error
    retries = seeded_db.execute("SELECT retry_count FROM call_recordings WHERE id = ANY(%s)", (claimed,)).fetchall()
    assert retries and all(r >= 1 for (r,) in retries)  # the dead attempt counts


def test_a_cli_backfill_runs_each_night_for_its_day_oldest_first(seeded_url, seeded_db, capsys):
    from auralink.cli import main

    assert main(["pipeline", "backfill", "--from-date", "2026-11-18", "--to-date", "2026-11-19",
                 "--select", "dbt_build", "--select", "ai_usage_costs"]) == 0
    nights = seeded_db.execute("SELECT job_name, interval_start::date FROM job_runs ORDER BY id").fetchall()
    assert nights == [("dbt_build", dt.date(2026, 11, 18)), ("ai_usage_costs", dt.date(2026, 11, 18)),
                      ("dbt_build", dt.date(2026, 11, 19)), ("ai_usage_costs", dt.date(2026, 11, 19))]
    assert seeded_db.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0] == \
        dt.date(2026, 11, 19)
    capsys.readouterr()
    assert main(["pipeline", "backfill", "--from-date", "2026-11-19", "--to-date", "2026-11-18"]) == 2
    assert "before the first" in capsys.readouterr().err
