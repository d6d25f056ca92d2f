"""calculate_monthly_costs() and the invoice job agree on the seeded dataset."""

from __future__ import annotations

import datetime as dt

from auralink.billing.invoices import generate_invoice


def test_invoices_agree_with_calculate_monthly_costs_on_seed(seeded_db):
    now = dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC)
    orgs = [r[0] for r in seeded_db.execute("SELECT id FROM organizations ORDER BY id").fetchall()]
    assert orgs
    for org in orgs:
        for month in (dt.date(2026, 10, 1), dt.date(2026, 11, 1)):
            res = generate_invoice(seeded_db, org, month, now=now)
            costs = seeded_db.execute("SELECT total_usd, call_minutes FROM calculate_monthly_costs(%s, %s)",
                                      (org, month)).fetchone()
            assert res.total_usd == costs[0], (org, month)
    total_minutes = seeded_db.execute(
        "SELECT sum(quantity) FROM usage_records WHERE metric = 'call_minutes'").fetchone()[0]
    assert total_minutes > 0


def test_zero_day_subscription_still_costs_a_row(db):
    """0003 returned no row when the month's only subscription started and ended the same day (fixed in 0500)."""
    import uuid

    org = uuid.uuid4()
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, 'Z', 'z-org', 'pro')", (org,))
    db.execute("INSERT INTO subscriptions (organization_id, plan, status, started_at, ended_at) VALUES "
               "(%s, 'pro', 'canceled', '2026-10-31 05:00+00', '2026-10-31 06:00+00')", (org,))
    row = db.execute("SELECT plan, total_usd FROM calculate_monthly_costs(%s, '2026-10-01')", (org,)).fetchone()
    assert row == ("pro", 0)
