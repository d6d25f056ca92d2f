"""Analytics days are the organization's local days: daylight-saving days, month boundaries on the date
line's two sides, a zone change, and which local days each night builds. One database, three nights:
A (cold, ends 2026-11-21 02:00 UTC), B (ends 2026-11-22 02:00 UTC), C (ends 2026-12-02 02:00 UTC)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from tests.local_calendar import UTC, ZONES, Calendar, local
from tests.nights import ending

NIGHTS = {"A": "2026-11-21T02:00:00+00:00", "B": "2026-11-22T02:00:00+00:00", "C": "2026-12-02T02:00:00+00:00"}
# 23:30 on the days the clocks change (spring forward, fall back).
DST_DAYS = {"new_york": ["2026-03-08", "2026-11-01"], "berlin": ["2026-03-29", "2026-10-25"],
            "auckland": ["2026-04-05", "2026-09-27"]}


def _days(conn: psycopg.Connection) -> dict[tuple, tuple[Decimal, int]]:
    rows = conn.execute("SELECT organization_id, usage_date, call_minutes, calls FROM analytics.daily_usage_summary")
    return {(o, d): (m, c) for o, d, m, c in rows.fetchall()}


@pytest.fixture(scope="module")
def calendar(migrated_template):
    """(url, Calendar, orgs by zone key, {night: daily_usage_summary after it})."""
    from auralink.analytics.dbt_runner import build

    from tests.conftest import _url_for, create_database, drop_database

    name = create_database(template=migrated_template)
    url = _url_for(name)
    conn = psycopg.connect(url, autocommit=True)
    cal = Calendar(conn)
    orgs = {key: cal.org(zone) for key, zone in ZONES.items()}
    for key, days in DST_DAYS.items():
        for day in days:
            cal.call(orgs[key], local(ZONES[key], f"{day}T23:30"), 7)
    # Either side of local midnight on Nov 1: 6,000 minutes each, so one month with both would owe overage.
    for key in ("auckland", "honolulu", "tokyo"):
        cal.call(orgs[key], local(ZONES[key], "2026-10-31T23:30"), 6000)
        cal.call(orgs[key], local(ZONES[key], "2026-11-01T00:30"), 6000)
    for key, zone in ZONES.items():
        for day in ("2026-11-19", "2026-11-20", "2026-11-21", "2026-11-30"):
            cal.call(orgs[key], local(zone, f"{day}T12:00"), 11)
    # Under way at night A's end (02:00 UTC): Auckland's Nov 21 (since Nov 20 11:00 UTC), Honolulu's Nov 20.
    cal.call(orgs["auckland"], local(ZONES["auckland"], "2026-11-21T00:30"), 13)
    cal.call(orgs["honolulu"], local(ZONES["honolulu"], "2026-11-20T01:00"), 13)
    # An organization that moved from Tokyo to Honolulu on Oct 20 (in force from Tokyo's Nov 1 midnight).
    mover = cal.org("Asia/Tokyo")
    cal.moved(mover, "Pacific/Honolulu", dt.date(2026, 10, 20))
    for at in ("2026-10-31T14:00", "2026-10-31T16:00", "2026-11-01T12:00", "2026-11-02T09:30", "2026-11-02T10:30"):
        cal.call(mover, dt.datetime.fromisoformat(at).replace(tzinfo=UTC), 5)
    orgs["mover"] = mover
    after: dict[str, dict] = {}
    for night, end in NIGHTS.items():
        build(url=url, interval=ending(end))
        after[night] = _days(conn)
    yield url, cal, orgs, after
    conn.close()
    drop_database(name)


def test_a_call_at_2330_on_a_daylight_saving_day_lands_on_that_local_day(calendar):
    _, _, orgs, after = calendar
    days = after["C"]
    for key, dates in DST_DAYS.items():
        for text in dates:
            day = dt.date.fromisoformat(text)
            minutes, calls = days[(orgs[key], day)]
            assert (minutes, calls) == (7, 1), (key, day)
            assert (orgs[key], day + dt.timedelta(days=1)) not in days, (key, day)
    # The UTC day of New York's calls is the next one; Berlin's and Auckland's the same one.
    assert local("America/New_York", "2026-03-08T23:30").date() == dt.date(2026, 3, 9)


def test_every_local_day_holds_what_zoneinfo_says(calendar):
    _, cal, orgs, after = calendar
    for key, org in orgs.items():
        got = {d: m for (o, d), (m, _) in after["C"].items() if o == org}
        assert got == cal.expected_days(org), key


def test_month_boundary_in_auckland_and_honolulu(calendar):
    url, cal, orgs, _ = calendar
    with psycopg.connect(url) as conn:
        for key in ("auckland", "honolulu", "tokyo"):
            org = orgs[key]
            days = dict(conn.execute("SELECT usage_date, call_minutes FROM analytics.daily_usage_summary "
                                     "WHERE organization_id = %s AND usage_date IN ('2026-10-31', '2026-11-01')",
                                     (org,)).fetchall())
            assert days == {dt.date(2026, 10, 31): 6000, dt.date(2026, 11, 1): 6000}, key
            months = dict(conn.execute(
                "SELECT period_start, call_minutes FROM analytics.organization_analytics_summary "
                "WHERE organization_id = %s AND period_type = 'month'", (org,)).fetchall())
            for month in (dt.date(2026, 10, 1), dt.date(2026, 11, 1)):
                assert months[month] == cal.expected_month(org, month), (key, month)
            assert months[dt.date(2026, 10, 1)] == 6000, key   # a UTC calendar gives Honolulu 0, Auckland 12,000


def test_a_night_at_0200_utc_builds_the_days_that_ended(calendar):
    _, _, orgs, after = calendar
    a, b = after["A"], after["B"]
    nov = lambda d: dt.date(2026, 11, d)
    # 02:00 UTC Nov 21: Auckland's Nov 20 ended at 11:00 UTC Nov 20 and Tokyo's at 15:00; Nov 21 is under way.
    for key in ("auckland", "tokyo", "utc", "kolkata", "berlin"):
        assert (orgs[key], nov(20)) in a, key
        assert (orgs[key], nov(21)) not in a, key
    # Honolulu's Nov 20 has 8 hours to run (until 10:00 UTC), New York's 3: not built yet, though rows exist.
    for key in ("honolulu", "new_york"):
        assert (orgs[key], nov(19)) in a and (orgs[key], nov(20)) not in a, key
    # The next night builds them, and Auckland's Nov 21 (with its 00:30 call).
    for key in ("honolulu", "new_york"):
        assert b[(orgs[key], nov(20))][0] == 11 + (13 if key == "honolulu" else 0), key
    assert b[(orgs["auckland"], nov(21))] == (24, 2)
    assert (orgs["honolulu"], nov(21)) not in b
    # A night changes only the days it builds: what night A built stays as it was.
    assert {k: v for k, v in b.items() if k in a} == a


def test_a_zone_change_takes_effect_from_the_next_local_month(calendar):
    url, _, orgs, after = calendar
    mover = orgs["mover"]
    got = {d: m for (o, d), (m, _) in after["C"].items() if o == mover}
    # 14:00 UTC Oct 31 is 23:00 in Tokyo (Oct 31); from Tokyo's Nov 1 midnight (15:00 UTC) Honolulu dates the
    # calls, and its first day is Nov 1 (05:00+ on Honolulu's Oct 31 counts on Nov 1, never on a day that ended).
    assert got == {dt.date(2026, 10, 31): 5, dt.date(2026, 11, 1): 15, dt.date(2026, 11, 2): 5}
    with psycopg.connect(url) as conn:
        history = conn.execute(
            "SELECT timezone, nullif(effective_from, '-infinity'), nullif(first_local_date, '-infinity') "
            "FROM organization_timezone_history WHERE organization_id = %s ORDER BY effective_from", (mover,)).fetchall()
        october, november = (conn.execute("SELECT * FROM org_local_month_bounds(%s, %s)", (mover, m)).fetchone()
                             for m in ("2026-10-01", "2026-11-01"))
    assert history == [("Asia/Tokyo", None, None),
                       ("Pacific/Honolulu", dt.datetime(2026, 10, 31, 15, tzinfo=UTC), dt.date(2026, 11, 1))]
    # October is wholly Tokyo's, November wholly Honolulu's (from the instant October ended).
    assert october == (dt.datetime(2026, 9, 30, 15, tzinfo=UTC), dt.datetime(2026, 10, 31, 15, tzinfo=UTC))
    assert november == (dt.datetime(2026, 10, 31, 15, tzinfo=UTC), dt.datetime(2026, 12, 1, 10, tzinfo=UTC))


def test_sql_rule_and_dbt_macros_date_every_row_alike(calendar):
    """org_local_date() (SQL, billing) and macros/local_calendar.sql (dbt) are one rule: the same days and
    sums for every usage row, and org_local_day_start() bounds each row's day."""
    url, _, _, _ = calendar
    end = dt.datetime.fromisoformat(NIGHTS["C"])
    with psycopg.connect(url) as conn:
        by_sql = conn.execute(
            """SELECT organization_id, d, sum(quantity) FROM (
                   SELECT organization_id, org_local_date(organization_id, recorded_at) AS d, quantity
                   FROM usage_records WHERE metric = 'call_minutes' AND recorded_at < %(end)s) u
               WHERE d < org_local_date(organization_id, %(end)s)
               GROUP BY 1, 2 ORDER BY 1, 2""", {"end": end}).fetchall()
        by_dbt = conn.execute("SELECT organization_id, usage_date, call_minutes FROM analytics_intermediate.int_usage_daily "
                              "ORDER BY 1, 2").fetchall()
        outside = conn.execute(
            """SELECT count(*) FROM usage_records u, LATERAL (SELECT org_local_date(u.organization_id, u.recorded_at) d) x
               WHERE NOT (u.recorded_at >= org_local_day_start(u.organization_id, x.d)
                          AND u.recorded_at < org_local_day_start(u.organization_id, x.d + 1))""").fetchone()[0]
        periods = conn.execute("SELECT count(*) FROM analytics_intermediate.int_org_timezone_periods").fetchone()[0]
    assert by_sql == by_dbt and len(by_sql) > 20
    assert outside == 0
    assert periods == 9  # one per organization, two for the one that moved


def test_custom_reports_cut_the_same_local_days_as_the_marts(calendar):
    """Custom reports read the raw tables; their days are the marts' days (one rule, org_local_date)."""
    from auralink.reports.definition import validate
    from auralink.reports.query import run_report

    url, _, orgs, after = calendar
    # Up to Nov 20: the fixture skips the nights of Nov 22 to Dec 1, and a skipped night's calls wait for
    # a backfill (only usage and AI events are re-read at any age), so later days are compared nowhere.
    defn = validate({"metrics": [{"column": "calls", "agg": "count"}], "dimensions": ["day"],
                     "date_range": {"start": "2026-03-01", "end": "2026-11-20"}})
    with psycopg.connect(url) as conn:
        for key in ("new_york", "auckland", "honolulu", "tokyo", "mover"):
            org = orgs[key]
            zone = conn.execute("SELECT timezone FROM organizations WHERE id = %s", (org,)).fetchone()[0]
            data = run_report(conn, defn, org, zone, dt.datetime(2026, 12, 2, 2, tzinfo=UTC))
            report = {day: calls for day, calls in data.rows}
            marts = {d: c for (o, d), (_, c) in after["C"].items() if o == org and d <= dt.date(2026, 11, 20)}
            assert report == marts, key
