"""Nightly billing job: close every month ended by the night's end and not yet finalized, refresh the
running month's draft; months are each organization's local months. "Now" is the night's interval end,
so re-running a past night bills as it did."""

from __future__ import annotations

import datetime as dt
import uuid

from auralink.jobs import JobContext, job

MAX_CATCH_UP_MONTHS = 12


@job("generate_invoices", stage=40, after=("check_analytics_quality",), produces=("public.invoices",))
def generate_invoices(ctx: JobContext, month: str | None = None, org: uuid.UUID | None = None,
                      draft_current: bool = True) -> dict:
    """Monthly invoices: finalize ended months (catching up missed ones), refresh the running month's draft."""
    from auralink.billing.invoices import generate_invoice, parse_month
    from auralink.billing.settings import BillingSettings

    now = ctx.now
    settings = BillingSettings.from_env()
    stats: dict = {"invoices_created": 0, "invoices_updated": 0, "invoices_finalized": 0,
                   "already_finalized": 0, "unbilled_late_records": 0}
    months_seen: set[dt.date] = set()
    with ctx.connect(autocommit=True) as conn:
        work = ([(o, parse_month(month)) for o in ([org] if org else _orgs_for(conn, parse_month(month)))]
                if month else _due_work(conn, now, draft_current, org))
        for org_id, m in work:
            months_seen.add(m)
            item = f"{org_id}:{m:%Y-%m}"
            try:
                res = generate_invoice(conn, org_id, m, now=now, settings=settings)
            except Exception as exc:  # noqa: BLE001 - one organization's invoice fails alone
                ctx.record_item("invoice", item, "failed", f"{exc.__class__.__name__}: {exc}")
                continue
            if res.outcome == "unchanged_finalized":
                stats["already_finalized"] += 1
                continue
            stats["invoices_created" if res.outcome == "created" else "invoices_updated"] += 1
            stats["invoices_finalized"] += res.status == "finalized"
            stats["unbilled_late_records"] += res.unbilled_late_records
            ctx.record_item("invoice", item, "succeeded", f"#{res.invoice_number} {res.status} {res.total_usd} USD")
    stats["months"] = sorted(m.isoformat() for m in months_seen)
    return stats


def _orgs_for(conn, month: dt.date) -> list:
    from auralink.billing.invoices import billable_organizations

    return billable_organizations(conn, month)


def _due_work(conn, now: dt.datetime, draft_current: bool, org: uuid.UUID | None) -> list[tuple]:
    """(organization, month) pairs in month order: for each organization, every ended local month from the
    one after its last finalized invoice (or its oldest draft, or last month for a new organization) to
    last month, at most MAX_CATCH_UP_MONTHS back; then the running month's draft. "Last month" and "the
    running month" are the organization's own: at 02:00 UTC on the 1st a Honolulu organization is still in
    the previous month."""
    from auralink.billing.invoices import month_start, next_month, previous_month

    rows = conn.execute(
        """SELECT o.id,
                  (SELECT max(i.period_start) FROM invoices i WHERE i.organization_id = o.id AND i.status <> 'draft'),
                  (SELECT min(i.period_start) FROM invoices i WHERE i.organization_id = o.id AND i.status = 'draft'),
                  org_local_date(o.id, o.created_at), org_local_date(o.id, %(now)s),
                  (SELECT org_local_date(o.id, o.deleted_at))
           FROM organizations o
           WHERE (%(org)s::uuid IS NULL OR o.id = %(org)s::uuid)
           ORDER BY o.id""",
        {"org": org, "now": now}).fetchall()
    work = []
    for org_id, last_final, first_draft, created_on, today, deleted_on in rows:
        last_closed = previous_month(today)
        oldest = last_closed
        for _ in range(MAX_CATCH_UP_MONTHS - 1):
            oldest = previous_month(oldest)
        if created_on >= next_month(today) or (deleted_on is not None and deleted_on < oldest):
            continue
        first = next_month(last_final) if last_final else last_closed
        if first_draft is not None:     # a draft whose month ended while the job was not running
            first = min(first, first_draft)
        first = max(first, oldest, month_start(created_on))
        m = first
        while m <= last_closed:
            work.append((org_id, m))
            m = next_month(m)
        if draft_current:
            work.append((org_id, month_start(today)))
    return sorted(work, key=lambda w: (w[1], str(w[0])))
