"""Invoices for each tier, overage, proration, late usage, numbering; they agree with calculate_monthly_costs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from auralink.billing.invoices import generate_invoice, invoice_document
from auralink.billing.settings import BillingSettings

from tests.concurrency import run_concurrently
from tests.nights import ending


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)

OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)
CLOSE_OCT = utc(2026, 11, 1, 2)   # the nightly run after October ends


def lines_by_type(doc):
    out = {}
    for ln in doc["lines"]:
        out.setdefault(ln["line_type"], []).append(ln)
    return out


@pytest.mark.parametrize("plan, minutes, ai_calls, expected", [
    ("free", 800, 90, Decimal("0.00")),
    ("free", 5000, 400, Decimal("0.00")),            # hard-capped: past the allowance is never billed
    ("pro", 9000, 1000, Decimal("49.00")),
    ("pro", 12000, 1500, Decimal("67.00")),          # 2,000 min x 0.004 + 500 calls x 0.02
    ("enterprise", 90000, 100, Decimal("499.00")),
    ("enterprise", 100500, 10010, Decimal("500.65")),  # 500 x 0.003 + 10 x 0.015
])
def test_invoice_per_tier_with_and_without_overage(billing, db, plan, minutes, ai_calls, expected):
    org = billing.org(plan)
    billing.usage(org, "call_minutes", minutes, utc(2026, 10, 10, 12))
    billing.usage(org, "ai_calls", ai_calls, utc(2026, 10, 20, 12))
    res = generate_invoice(db, org, OCT, now=CLOSE_OCT)
    assert res.status == "finalized" and res.invoice_number == 1
    doc = invoice_document(db, org, OCT)
    assert doc["total_usd"] == expected
    assert sum(ln["amount_usd"] for ln in doc["lines"]) == expected
    costs = billing.costs(org, OCT)
    assert costs["total_usd"] == doc["total_usd"]
    by_type = lines_by_type(doc)
    assert by_type["subscription"][0]["amount_usd"] == costs["base_fee_usd"]
    if plan == "free" and minutes > 1000:
        assert by_type["overage_minutes"][0]["amount_usd"] == 0
        assert "hard cap" in by_type["overage_minutes"][0]["description"]
    if expected > costs["base_fee_usd"]:
        assert "overage_minutes" in by_type


def test_proration_on_mid_month_plan_change(billing, db):
    change = utc(2026, 10, 15)
    org = billing.org("enterprise", subscriptions=[("pro", utc(2026, 1, 1), change), ("enterprise", change, None)])
    billing.usage(org, "call_minutes", 60000, utc(2026, 10, 20))
    res = generate_invoice(db, org, OCT, now=CLOSE_OCT)
    doc = invoice_document(db, org, OCT)
    prorations = lines_by_type(doc)["proration"]
    assert [(ln["quantity"], ln["amount_usd"]) for ln in prorations] == [
        (Decimal(14), Decimal("22.13")),    # 49 x 14/31
        (Decimal(17), Decimal("273.65")),   # 499 x 17/31
    ]
    # allowance prorated too: floor(10,000 x 14/31 + 100,000 x 17/31) = 59,354; overage at the enterprise rate
    over = lines_by_type(doc)["overage_minutes"][0]
    assert over["quantity"] == Decimal(646) and over["amount_usd"] == Decimal("1.94")
    assert res.total_usd == Decimal("297.72") == billing.costs(org, OCT)["total_usd"]


def test_late_usage_becomes_adjustment_on_next_invoice(billing, db):
    org = billing.org("pro")
    billing.usage(org, "call_minutes", 9900, utc(2026, 10, 5))
    first = generate_invoice(db, org, OCT, now=CLOSE_OCT)
    assert first.total_usd == Decimal("49.00")
    # 300 minutes of October reach us on November 3 (within the 7-day grace), 50 more on November 12 (too late)
    billing.usage(org, "call_minutes", 300, utc(2026, 10, 31, 23), received=utc(2026, 11, 3))
    billing.usage(org, "call_minutes", 50, utc(2026, 10, 31, 23, 30), received=utc(2026, 11, 12))
    billing.usage(org, "call_minutes", 100, utc(2026, 11, 4))
    nov = generate_invoice(db, org, NOV, now=utc(2026, 11, 20), settings=BillingSettings(late_usage_grace_days=7))
    assert nov.status == "draft" and nov.invoice_number == 2
    adj = [ln for ln in nov.lines if ln.line_type == "adjustment"]
    assert len(adj) == 1
    assert adj[0].line_key == "late:2026-10:call_minutes"
    assert adj[0].quantity == Decimal(200) and adj[0].amount_usd == Decimal("0.80")   # 200 over x 0.004
    assert adj[0].metadata["for_invoice_number"] == 1
    assert nov.unbilled_late_records == 1
    assert nov.total_usd == Decimal("49.80")
    # the finalized October invoice is untouched, and refuses changes
    oct_doc = invoice_document(db, org, OCT)
    assert oct_doc["total_usd"] == Decimal("49.00") and oct_doc["status"] == "finalized"
    assert generate_invoice(db, org, OCT, now=utc(2026, 11, 20)).outcome == "unchanged_finalized"
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        db.execute("UPDATE invoices SET total_usd = 1 WHERE id = %s", (oct_doc["id"],))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        db.execute("DELETE FROM invoice_line_items WHERE invoice_id = %s", (oct_doc["id"],))
    # invoiced October + its adjustment = what calculate_monthly_costs says, but for the usage past the grace
    costs = billing.costs(org, OCT)
    assert costs["call_minutes"] == Decimal(10250)
    assert oct_doc["total_usd"] + adj[0].amount_usd == costs["total_usd"] - Decimal("0.20")


def test_usage_resend_is_ignored(billing, db):
    org = billing.org("pro")
    first = billing.usage(org, "call_minutes", 12000, utc(2026, 10, 5), key="evt-1")
    again = billing.usage(org, "call_minutes", 12000, utc(2026, 10, 5), key="evt-1")
    assert (first.inserted, again.inserted, again.duplicates) == (1, 0, 1)
    assert billing.costs(org, OCT)["call_minutes"] == Decimal(12000)
    res = generate_invoice(db, org, OCT, now=CLOSE_OCT)
    assert res.total_usd == Decimal("57.00")


def test_bad_usage_record_is_rejected_alone(db, billing):
    from auralink.billing.usage import record_usage

    org = billing.org("pro")
    res = record_usage(db, [
        {"organization_id": str(org), "metric": "call_minutes", "quantity": "5", "recorded_at": "2026-10-02T10:00:00+00:00",
         "idempotency_key": "ok-1"},
        {"organization_id": str(org), "metric": "bogus", "quantity": "5", "recorded_at": "2026-10-02T10:00:00+00:00",
         "idempotency_key": "bad-1"},
        {"organization_id": str(org), "metric": "ai_calls", "quantity": "-1", "recorded_at": "2026-10-02T10:00:00+00:00",
         "idempotency_key": "bad-2"},
    ])
    assert res.inserted == 1
    assert [pos for pos, _ in res.rejected] == [1, 2]
    assert "metric must be one of" in res.rejected[0][1]


def test_invoice_numbers_sequential_and_job_idempotent(billing, db):
    from auralink.jobs import run_job

    org = billing.org("pro")
    other = billing.org("free")
    for month, now in ((dt.date(2026, 9, 1), utc(2026, 10, 1, 2)), (OCT, CLOSE_OCT)):
        out = run_job("generate_invoices", {"draft_current": "false"}, interval=ending(now.isoformat()))
        assert out["status"] == "succeeded"
    out = run_job("generate_invoices", {}, interval=ending(utc(2026, 11, 5).isoformat()))   # Oct is done: Nov draft only
    assert out["months"] == ["2026-11-01"] and out["invoices_created"] == 2
    assert run_job("generate_invoices", {"month": "2026-10"}, interval=ending(utc(2026, 11, 5)))["already_finalized"] == 2
    again = run_job("generate_invoices", {}, interval=ending(utc(2026, 11, 6).isoformat()))
    assert again["invoices_created"] == 0 and again["invoices_updated"] == 2
    rows = db.execute("SELECT period_start, invoice_number, status FROM invoices WHERE organization_id = %s "
                      "ORDER BY period_start", (org,)).fetchall()
    assert rows == [(dt.date(2026, 9, 1), 1, "finalized"), (OCT, 2, "finalized"), (NOV, 3, "draft")]
    assert db.execute("SELECT count(*) FROM invoices WHERE organization_id = %s", (other,)).fetchone()[0] == 3


def test_two_concurrent_runs_make_one_invoice(billing, db_url, db):
    org = billing.org("pro")

    def run():
        with psycopg.connect(db_url, autocommit=True) as conn:
            generate_invoice(conn, org, OCT, now=CLOSE_OCT)

    _, errors = run_concurrently(run)
    assert not errors
    assert db.execute("SELECT count(*), max(invoice_number) FROM invoices WHERE organization_id = %s",
                      (org,)).fetchone() == (1, 1)


def test_cannot_finalize_a_running_month(billing, db):
    from auralink.billing.invoices import InvoiceError

    org = billing.org("pro")
    with pytest.raises(InvoiceError, match="before the month is over"):
        generate_invoice(db, org, NOV, now=utc(2026, 11, 20), finalize=True)


def test_missed_months_are_caught_up_in_order(billing, db):
    from auralink.jobs import run_job

    org = billing.org("pro")
    run_job("generate_invoices", {"org": str(org), "month": "2026-09"}, interval=ending(utc(2026, 9, 20).isoformat()))
    # the job did not run again until December: September (a draft), October and November are closed now
    out = run_job("generate_invoices", {}, interval=ending(utc(2026, 12, 2).isoformat()))
    assert out["months"] == ["2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"]
    rows = db.execute("SELECT period_start, invoice_number, status, issued_at FROM invoices WHERE organization_id = %s "
                      "ORDER BY period_start", (org,)).fetchall()
    assert [(r[0].month, r[1], r[2]) for r in rows] == [(9, 1, "finalized"), (10, 2, "finalized"),
                                                        (11, 3, "finalized"), (12, 4, "draft")]
    assert rows[0][3] == utc(2026, 12, 2)       # issued when finalized
