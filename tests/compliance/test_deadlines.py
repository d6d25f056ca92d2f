"""GDPR Art. 12(3) deadline arithmetic, extensions and overdue flags."""

from __future__ import annotations

import datetime as dt

import pytest
from auralink.compliance import deadlines, requests
from auralink.jobs import run_job
from auralink.jobs.interval import parse_time

from tests.nights import ending

UTC = dt.UTC


@pytest.mark.parametrize("received, due", [
    ("2026-01-31", "2026-02-28"),
    ("2028-01-31", "2028-02-29"),   # leap year
    ("2026-01-15", "2026-02-15"),
    ("2026-03-31", "2026-04-30"),
    ("2026-12-31", "2027-01-31"),   # year boundary
    ("2026-02-28", "2026-03-28"),
    ("2026-08-31", "2026-09-30"),
])
def test_one_calendar_month(received, due):
    r = dt.datetime.fromisoformat(received).replace(hour=14, minute=5, tzinfo=UTC)
    assert deadlines.due_date(r) == dt.datetime.fromisoformat(due).replace(hour=14, minute=5, tzinfo=UTC)


def test_extension_adds_two_months_clamped():
    assert deadlines.extended_due_date(dt.datetime(2026, 2, 28, tzinfo=UTC)) == dt.datetime(2026, 4, 28, tzinfo=UTC)
    assert deadlines.extended_due_date(dt.datetime(2026, 12, 31, tzinfo=UTC)) == dt.datetime(2027, 2, 28, tzinfo=UTC)


def test_submit_extend_and_flag_overdue(world, db):
    received = dt.datetime(2026, 1, 31, 10, tzinfo=UTC)
    rid = requests.submit_request(db, organization_id=world.org, request_type="export",
                                  subject_email=world.alice_email, received_at=received)
    due = db.execute("SELECT due_at FROM compliance_requests WHERE id = %s", (rid,)).fetchone()[0]
    assert due == dt.datetime(2026, 2, 28, 10, tzinfo=UTC)
    # Flagging is "as of now": the job runs only for the current night (a past "now" would clear today's
    # flags), so the rule itself is checked here at several points in time.
    assert run_job("flag_overdue_compliance_requests", {}, interval=ending("2026-03-01T00:00:00+00:00"))["status"] == "skipped"
    result = requests.flag_overdue(db, parse_time("2026-03-01T00:00:00+00:00"))
    assert result["flagged"] == 1
    assert db.execute("SELECT is_overdue FROM compliance_requests WHERE id = %s", (rid,)).fetchone()[0]
    with pytest.raises(ValueError, match="reason"):
        requests.extend_deadline(db, rid, "  ")
    new_due = requests.extend_deadline(db, rid, "Complex request: 40 recordings to review")
    assert new_due == dt.datetime(2026, 4, 28, 10, tzinfo=UTC)
    row = db.execute("SELECT extended_due_at, extension_reason, is_overdue FROM compliance_requests WHERE id = %s", (rid,)).fetchone()
    assert row == (new_due, "Complex request: 40 recordings to review", False)
    with pytest.raises(ValueError, match="already extended"):
        requests.extend_deadline(db, rid, "again")
    assert requests.flag_overdue(db, parse_time("2026-04-01T00:00:00+00:00"))["flagged"] == 0
    assert requests.flag_overdue(db, parse_time("2026-04-29T00:00:00+00:00"))["flagged"] == 1
