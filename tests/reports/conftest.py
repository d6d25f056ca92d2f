"""Report test data: an organization in New York with calls over a few days, and report definitions."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid

import pytest

_n = itertools.count()
EXAMPLE = {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
           "filters": [{"column": "call_type", "op": "=", "value": "video"}], "date_range": {"last_days": 30},
           "chart": {"type": "line"}}


class ReportData:
    def __init__(self, conn):
        self.conn = conn
        self.org = uuid.uuid4()
        n = next(_n)
        conn.execute("INSERT INTO organizations (id, name, slug, plan, timezone) VALUES (%s, 'Acme Calls', %s, 'pro', "
                     "'America/New_York')", (self.org, f"acme-{n}"))
        # Day d (Nov 1..10, New York) has d video calls of 10 minutes and one audio call of 5 minutes, at 23:30
        # local (04:30 UTC the next day: the report must group by the organization's day, not UTC's).
        for d in range(1, 11):
            start = dt.datetime(2026, 11, d, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
            for k in range(d):
                self.call("video", start + dt.timedelta(seconds=k), 600)
            self.call("audio", start, 300)

    def call(self, call_type: str, started: dt.datetime, seconds: int) -> None:
        self.conn.execute(
            """INSERT INTO calls (id, organization_id, call_type, status, region, started_at, ended_at, duration_seconds)
               VALUES (%s, %s, %s, 'completed', 'us-east', %s, %s, %s)""",
            (uuid.uuid4(), self.org, call_type, started, started + dt.timedelta(seconds=seconds), seconds))

    def report(self, name: str, definition, cron: str = "0 6 * * *", formats=("csv",)) -> uuid.UUID:
        rid = uuid.uuid4()
        self.conn.execute(
            """INSERT INTO custom_reports (id, organization_id, name, definition, schedule_cron, formats)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (rid, self.org, name, json.dumps(definition), cron, list(formats)))
        return rid


@pytest.fixture
def reports(db) -> ReportData:
    return ReportData(db)


@pytest.fixture
def reports_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_REPORTS_URL", str(tmp_path / "reports"))
    return tmp_path / "reports"
