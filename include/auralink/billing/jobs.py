"""Nightly billing job: finalize last month's invoices, refresh this month's drafts."""

from __future__ import annotations

import datetime as dt

from auralink.jobs import JobContext, job


@job("generate_invoices", stage=40)
def generate_invoices(ctx: JobContext, month: str | None = None, org: str | None = None,
                      draft_current: bool = True, now: dt.datetime | None = None) -> dict:
    """Monthly invoices: finalize the month that ended, refresh the running month's draft."""
    from auralink.billing.invoices import (
        billable_organizations,
        generate_invoice,
        month_start,
        parse_month,
        previous_month,
    )
    from auralink.billing.settings import BillingSettings

    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    settings = BillingSettings.from_env()
    today = now.astimezone(dt.UTC).date()
    if month:
        months = [parse_month(month)]
    else:
        months = [previous_month(today)] + ([month_start(today)] if draft_current else [])
    stats: dict = {"invoices_created": 0, "invoices_updated": 0, "invoices_finalized": 0,
                   "already_finalized": 0, "unbilled_late_records": 0, "months": [m.isoformat() for m in months]}
    with ctx.connect(autocommit=True) as conn:
        for m in months:
            orgs = [org] if org else billable_organizations(conn, m)
            for org_id in orgs:
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
    return stats
