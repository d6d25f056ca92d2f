"""Billing months are the organization's local months: the invoice, calculate_monthly_costs() and the dbt
monthly_costs agree in every seeded time zone; a zone change is recorded and takes effect from the next
local month (the next billing period)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from auralink.billing.invoices import InvoiceError, generate_invoice

from tests.local_calendar import UTC, ZONES, Calendar, local

OCT, NOV, DEC = dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def _costs(conn, org, month) -> dict:
    from psycopg.rows import dict_row

    return conn.cursor(row_factory=dict_row).execute("SELECT * FROM calculate_monthly_costs(%s, %s)",
                                                     (org, month)).fetchone()


def test_a_tokyo_invoice_month_starts_at_local_midnight_not_0900(db):
    cal = Calendar(db)
    tokyo = cal.org("Asia/Tokyo")
    cal.call(tokyo, local("Asia/Tokyo", "2026-10-31T23:30"), 100)   # 14:30 UTC on Oct 31
    cal.call(tokyo, local("Asia/Tokyo", "2026-11-01T00:30"), 200)   # 15:30 UTC on Oct 31: November in Tokyo
    now = dt.datetime(2026, 12, 5, tzinfo=UTC)
    nov, oct_ = generate_invoice(db, tokyo, NOV, now=now), generate_invoice(db, tokyo, OCT, now=now)
    inv = db.execute("SELECT metadata FROM invoices WHERE id = %s", (nov.invoice_id,)).fetchone()[0]
    assert inv["period_starts_at"] == "2026-10-31T15:00:00+00:00"
    assert inv["period_ends_at"] == "2026-11-30T15:00:00+00:00"
    assert Decimal(inv["call_minutes"]) == 200 == _costs(db, tokyo, NOV)["call_minutes"]
    assert _costs(db, tokyo, OCT)["call_minutes"] == 100
    assert nov.status == oct_.status == "finalized"


@pytest.mark.parametrize("zone", ["Pacific/Honolulu", "Pacific/Auckland"])
def test_the_month_boundary_on_the_invoice(db, zone):
    """6,000 minutes either side of local midnight on Nov 1: each month is within Pro's 10,000 (a UTC
    month would hold both for one of the two zones and bill 2,000 minutes of overage)."""
    cal = Calendar(db)
    org = cal.org(zone)
    cal.call(org, local(zone, "2026-10-31T23:30"), 6000)
    cal.call(org, local(zone, "2026-11-01T00:30"), 6000)
    now = dt.datetime(2026, 12, 5, tzinfo=UTC)
    for month in (OCT, NOV):
        res = generate_invoice(db, org, month, now=now)
        assert res.total_usd == Decimal("49.00") == _costs(db, org, month)["total_usd"], month
        assert [ln.line_type for ln in res.lines] == ["subscription"]
        assert _costs(db, org, month)["call_minutes"] == 6000


def test_at_0200_utc_on_the_1st_honolulu_is_still_in_the_old_month(db):
    from auralink.billing.jobs import _due_work

    cal = Calendar(db)
    honolulu, tokyo = cal.org("Pacific/Honolulu"), cal.org("Asia/Tokyo")
    night = dt.datetime(2026, 12, 1, 2, tzinfo=UTC)
    assert generate_invoice(db, honolulu, NOV, now=night).status == "draft"     # 8 hours of November to run
    assert generate_invoice(db, tokyo, NOV, now=night).status == "finalized"
    with pytest.raises(InvoiceError, match="before the month is over"):
        generate_invoice(db, honolulu, NOV, now=night, finalize=True)
    work = _due_work(db, night, True, None)
    assert [m for o, m in work if o == honolulu] == [OCT, NOV]   # October to close (a new org), November's draft
    assert [m for o, m in work if o == tokyo] == [DEC]   # November finalized above; December under way
    assert generate_invoice(db, honolulu, NOV, now=night + dt.timedelta(hours=8)).status == "finalized"


def test_a_zone_change_is_recorded_and_takes_effect_from_the_next_local_month(db):
    cal = Calendar(db)
    org = cal.org("UTC")
    now = db.execute("SELECT now()").fetchone()[0]
    today = now.astimezone(UTC).date()
    db.execute("UPDATE organizations SET timezone = 'Asia/Tokyo' WHERE id = %s", (org,))
    # (-infinity, the zone the organization started with, read as None: Python has no infinite datetime)
    history = db.execute(
        "SELECT timezone, nullif(effective_from, '-infinity'), nullif(first_local_date, '-infinity') "
        "FROM organization_timezone_history WHERE organization_id = %s ORDER BY effective_from", (org,)).fetchall()
    first = today.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    after = (nxt + dt.timedelta(days=32)).replace(day=1)
    midnight = dt.datetime.combine(nxt, dt.time(), tzinfo=UTC)   # the month under way ends in UTC
    assert history == [("UTC", None, None), ("Asia/Tokyo", midnight, nxt)]
    # The rest of this month is UTC days; the new zone dates from the next month's UTC midnight.
    q = lambda sql, *args: db.execute(sql, args).fetchone()[0]
    assert q("SELECT org_local_date(%s, now())", org) == today
    assert q("SELECT org_local_date(%s, %s)", org, midnight - dt.timedelta(seconds=1)) == nxt - dt.timedelta(days=1)
    assert q("SELECT org_local_date(%s, %s)", org, midnight) == nxt
    assert q("SELECT org_local_day_start(%s, %s)", org, nxt + dt.timedelta(days=1)) == \
        midnight + dt.timedelta(hours=15)   # Tokyo's midnight
    # This month is wholly UTC; the next starts at UTC midnight and ends at Tokyo's (a month is its local days).
    month = lambda m: db.execute("SELECT * FROM org_local_month_bounds(%s, %s)", (org, m)).fetchone()
    assert month(first) == (dt.datetime.combine(first, dt.time(), tzinfo=UTC), midnight)
    assert month(nxt) == (midnight, dt.datetime.combine(after, dt.time(), tzinfo=UTC) - dt.timedelta(hours=9))
    # A second change before it takes effect replaces the pending one; changing back cancels it.
    db.execute("UPDATE organizations SET timezone = 'Pacific/Honolulu' WHERE id = %s", (org,))
    assert db.execute("SELECT timezone, effective_from FROM organization_timezone_history WHERE organization_id = %s "
                      "AND effective_from > '-infinity'", (org,)).fetchall() == [("Pacific/Honolulu", midnight)]
    db.execute("UPDATE organizations SET timezone = 'UTC' WHERE id = %s", (org,))
    assert q("SELECT count(*) FROM organization_timezone_history WHERE organization_id = %s", org) == 1
    # A zone only ever starts with a month.
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, "
                   "first_local_date) VALUES (%s, 'Asia/Tokyo', '2026-11-09 15:00+00', '2026-11-10')", (org,))


def test_an_unknown_zone_is_refused_in_one_line(db):
    cal = Calendar(db)
    org = cal.org("UTC")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown time zone 'Mars/Olympus'"):
        db.execute("UPDATE organizations SET timezone = 'Mars/Olympus' WHERE id = %s", (org,))


@pytest.fixture
def zones_built(db_url, db):
    """An organization per seeded zone, a plan change mid-month, usage either side of local midnights; one
    dbt build for the night ending 2026-12-02 02:00 UTC (every zone's November has ended)."""
    from auralink.analytics.dbt_runner import build

    from tests.nights import ending

    cal = Calendar(db)
    orgs = {}
    for key, zone in ZONES.items():
        org = orgs[key] = cal.org(zone, plan="enterprise")
        # Pro until 05:00 UTC on Nov 15, then Enterprise: Nov 15 in the east, Nov 14 in Honolulu.
        change = dt.datetime(2026, 11, 15, 5, tzinfo=UTC)
        db.execute("INSERT INTO subscriptions (organization_id, plan, status, started_at, ended_at) VALUES "
                   "(%s, 'pro', 'canceled', '2025-01-01', %s), (%s, 'enterprise', 'active', %s, NULL)",
                   (org, change, org, change))
        for text, minutes in (("2026-10-31T23:30", 30000), ("2026-11-01T00:30", 40000),
                              ("2026-11-30T23:59", 30000), ("2026-10-15T12:00", 500)):
            cal.call(org, local(zone, text), minutes)
    # One that moved from Tokyo to Honolulu in October: October is Tokyo's month, November Honolulu's, from
    # Tokyo's Nov 1 midnight (05:00 on Honolulu's Oct 31 is Nov 1, the new zone's first day).
    mover = orgs["mover"] = cal.org("Asia/Tokyo", plan="pro")
    cal.moved(mover, "Pacific/Honolulu", dt.date(2026, 10, 20))
    for at, minutes in ((local("Asia/Tokyo", "2026-10-31T23:30"), 7000), (local("Pacific/Honolulu", "2026-10-31T06:00"), 4000),
                        (local("Pacific/Honolulu", "2026-11-30T23:30"), 5000), (local("Pacific/Honolulu", "2026-12-01T00:30"), 900)):
        cal.call(mover, at, minutes)
    build(url=db_url, interval=ending("2026-12-02T02:00:00+00:00"))
    return orgs


def test_invoices_function_and_dbt_monthly_costs_agree_in_every_zone(db_url, db, zones_built):
    from auralink.analytics.dbt_runner import run_dbt

    now = dt.datetime(2026, 12, 2, 2, tzinfo=UTC)
    totals = {}
    for key, org in zones_built.items():
        for month in (OCT, NOV):
            invoice = generate_invoice(db, org, month, now=now)
            function = _costs(db, org, month)
            dbt_row = db.execute("SELECT total_usd, call_minutes, base_fee_usd FROM analytics.monthly_costs "
                                 "WHERE organization_id = %s AND month = %s", (org, month)).fetchone()
            assert invoice.total_usd == function["total_usd"] == dbt_row[0], (key, month)
            assert function["call_minutes"] == dbt_row[1] and function["base_fee_usd"] == dbt_row[2], (key, month)
            totals[key, month] = (invoice.total_usd, function["call_minutes"])
    # Local months: October holds 30,500 minutes everywhere and November 70,000.
    assert {v[1] for (k, m), v in totals.items() if m == OCT and k != "mover"} == {30500}
    assert {v[1] for (k, m), v in totals.items() if m == NOV and k != "mover"} == {70000}
    # The mover: 7,000 in Tokyo's October; 9,000 in Honolulu's November (the 900 of Dec 1 are December's).
    assert (totals["mover", OCT][1], totals["mover", NOV][1]) == (7000, 9000)
    # The plan change falls on Nov 14 in Honolulu, Nov 15 elsewhere: a different proration.
    assert totals["honolulu", NOV][0] != totals["tokyo", NOV][0]
    assert run_dbt(["test", "--select", "tag:parity"], url=db_url).statuses == {"pass": 2}
