"""Due reports: generated once per tick in the organization's time zone, in each format; failures stay alone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from auralink.jobs import run_job
from auralink.reports.runner import run_due_reports, ticks

from tests.concurrency import run_concurrently
from tests.nights import ending

EXAMPLE = {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
           "filters": [{"column": "call_type", "op": "=", "value": "video"}], "date_range": {"last_days": 30},
           "chart": {"type": "line"}}
# Wednesday 2026-11-11 12:00 UTC = 07:00 in New York: the daily 06:00 tick (11:00 UTC) is due.
NOW = dt.datetime(2026, 11, 11, 12, 0, tzinfo=dt.UTC)


def path_of(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_ticks_use_the_organization_time_zone():
    prev, nxt = ticks("0 6 * * 1", "America/New_York", NOW)
    assert prev == dt.datetime(2026, 11, 9, 11, 0, tzinfo=dt.UTC)      # Monday 06:00 EST
    assert nxt == dt.datetime(2026, 11, 16, 11, 0, tzinfo=dt.UTC)
    prev_tokyo, _ = ticks("0 6 * * *", "Asia/Tokyo", NOW)
    assert prev_tokyo == dt.datetime(2026, 11, 10, 21, 0, tzinfo=dt.UTC)


def test_due_report_generated_once_per_tick_even_when_run_twice(reports, db, reports_dir):
    rid = reports.report("Video minutes", EXAMPLE, formats=("csv", "json"))
    first = run_job("generate_due_reports", {}, interval=ending(NOW.isoformat()))
    second = run_job("generate_due_reports", {}, interval=ending((NOW + dt.timedelta(hours=1)).isoformat()))
    assert first["reports"]["succeeded"] == 1
    assert second["reports"] == {"succeeded": 0, "failed": 0, "not_due": 1}
    runs = db.execute("SELECT scheduled_for, status, row_count, outputs FROM report_runs WHERE report_id = %s",
                      (rid,)).fetchall()
    assert len(runs) == 1
    scheduled_for, status, row_count, outputs = runs[0]
    assert row_count == 10
    assert scheduled_for == dt.datetime(2026, 11, 11, 11, 0, tzinfo=dt.UTC) and status == "succeeded"
    # the last 30 days before Nov 11 (New York): Nov 1..10, each day d with d video calls of 10 minutes
    rows = list(csv.reader(io.StringIO(path_of(outputs["csv"]).read_text())))
    assert rows[0] == ["day", "sum_call_minutes"]
    assert rows[1:] == [[f"2026-11-{d:02d}", str(10 * d)] for d in range(1, 11)]
    doc = json.loads(path_of(outputs["json"]).read_text())
    assert doc["rows"][0] == {"day": "2026-11-01", "sum_call_minutes": 10}
    last_run, next_run, last_status = db.execute(
        "SELECT last_run_at, next_run_at, last_status FROM custom_reports WHERE id = %s", (rid,)).fetchone()
    assert last_run == NOW and last_status == "succeeded" and next_run == dt.datetime(2026, 11, 12, 11, 0, tzinfo=dt.UTC)
    # the next day's tick is a new run
    third = run_job("generate_due_reports", {}, interval=ending((NOW + dt.timedelta(days=1)).isoformat()))
    assert third["reports"]["succeeded"] == 1
    assert db.execute("SELECT count(*) FROM report_runs WHERE report_id = %s", (rid,)).fetchone()[0] == 2


def test_concurrent_runs_generate_a_tick_once(reports, db_url, db, reports_dir):
    rid = reports.report("Video minutes", EXAMPLE)

    def run():
        with psycopg.connect(db_url, autocommit=True) as conn:
            return [o.status for o in run_due_reports(conn, NOW)]

    results, errors = run_concurrently(run)
    assert not errors
    assert sorted(status for statuses in results for status in statuses) == ["not_due", "not_due", "succeeded"]
    assert db.execute("SELECT count(*) FROM report_runs WHERE report_id = %s", (rid,)).fetchone()[0] == 1


def test_bad_definition_fails_alone(reports, db, reports_dir):
    good = reports.report("Good", EXAMPLE)
    bad = reports.report("Injected", {**EXAMPLE, "metrics": [{"column": "call_minutes; DROP TABLE calls", "agg": "sum"}]})
    bad_cron = reports.report("Bad cron", EXAMPLE, cron="every monday")
    out = run_job("generate_due_reports", {}, interval=ending(NOW.isoformat()))
    assert out["status"] == "partial" and out["reports"]["succeeded"] == 1 and out["reports"]["failed"] == 2
    status = dict(db.execute("SELECT id, last_status FROM custom_reports").fetchall())
    assert status == {good: "succeeded", bad: "failed", bad_cron: "failed"}
    err = db.execute("SELECT error FROM report_runs WHERE report_id = %s", (bad,)).fetchone()[0]
    assert "invalid definition" in err and "is not an allowed column" in err
    assert "not a valid cron" in db.execute("SELECT last_error FROM custom_reports WHERE id = %s", (bad_cron,)).fetchone()[0]
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] > 0
    # the failed tick is not retried within the same tick
    again = run_job("generate_due_reports", {}, interval=ending(NOW.isoformat()))
    assert again["reports"]["not_due"] == 2


def test_pdf_report_has_its_chart(reports, db, reports_dir, tmp_path):
    from pypdf import PdfReader

    reports.report("Video minutes by day", EXAMPLE, formats=("pdf",))
    reports.report("Calls by type", {"metrics": [{"column": "calls", "agg": "count"}], "dimensions": ["call_type"],
                                     "date_range": {"last_days": 30}, "chart": {"type": "bar"}}, formats=("pdf",))
    [o1, o2] = run_due_reports(db, NOW)
    for o in (o1, o2):
        assert o.status == "succeeded", o.error
        pdf = path_of(o.outputs["pdf"])
        reader = PdfReader(str(pdf))
        page = reader.pages[0]
        assert "Acme Calls" in page.extract_text()
        assert len(page.images) == 1                       # the matplotlib chart
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    out = tmp_path / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path_of(o1.outputs["pdf"])), str(out)],
                   check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 5000


def test_seeded_reports_all_generate(seeded_db, reports_dir):
    out = run_job("generate_due_reports", {}, interval=ending("2026-11-21T12:00:00+00:00"))
    total = seeded_db.execute("SELECT count(*) FROM custom_reports WHERE enabled AND schedule_cron IS NOT NULL").fetchone()[0]
    assert out["reports"]["succeeded"] == total and out["reports"]["failed"] == 0
    assert seeded_db.execute("SELECT count(*) FROM report_runs WHERE status = 'succeeded'").fetchone()[0] == total
