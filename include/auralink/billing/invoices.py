"""Monthly invoices per organization.

The amounts come from SQL (``billing_plan_segments`` for the prorated plan fees,
``calculate_monthly_costs_as_of`` for usage and overage), the same functions behind
``calculate_monthly_costs()``, so the report and the invoice cannot disagree. Python decides what an
invoice is: its lines, its number, when it is finalized, and late-usage adjustments.

Months are the organization's local months (migration 1500: ``org_local_month_bounds``, the zone in force
for each local day); Python never computes a month's bounds itself.

Lifecycle: the running month has a *draft* invoice, recomputed every night; once the month is over the
next run computes it one last time and *finalizes* it. A finalized invoice never changes (a trigger
refuses it): usage for its month that arrives later, within the grace period, is billed as
``adjustment`` lines on the next month's invoice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from auralink.billing.settings import BillingSettings
from auralink.db.connection import scalar

CENT = Decimal("0.01")
PLAN_NAMES = {"free": "Free", "pro": "Pro", "enterprise": "Enterprise"}
METRIC_LABELS = {"call_minutes": "call minutes", "ai_calls": "AI calls"}


class InvoiceError(RuntimeError):
    pass


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    first = day.replace(day=1)
    return (first + dt.timedelta(days=32)).replace(day=1)


def previous_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def parse_month(text: str) -> dt.date:
    """'2026-10' or '2026-10-01' -> the first day of that month."""
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return month_start(dt.date.fromisoformat(text))
    except ValueError:
        raise ValueError(f"not a month (YYYY-MM): {text!r}") from None


def local_month_bounds(conn: psycopg.Connection, org: uuid.UUID, month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """When ``org``'s local ``month`` starts and ends (instants; the end is exclusive)."""
    row = conn.execute("SELECT starts_at, ends_at FROM org_local_month_bounds(%s, %s)", (org, month)).fetchone()
    if row is None or row[0] is None:
        raise InvoiceError(f"unknown organization {org}")
    return row[0], row[1]


@dataclass
class Line:
    line_key: str
    line_type: str
    description: str
    quantity: Decimal
    unit_price_usd: Decimal
    amount_usd: Decimal
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class InvoiceResult:
    organization_id: uuid.UUID
    period_start: dt.date
    outcome: str  # created | updated | unchanged_finalized
    invoice_id: uuid.UUID | None = None
    invoice_number: int | None = None
    status: str | None = None
    total_usd: Decimal | None = None
    lines: list[Line] = field(default_factory=list)
    unbilled_late_records: int = 0  # arrived after the grace period of the previous month


def _costs(conn: psycopg.Connection, org: uuid.UUID, month: dt.date, received_before: dt.datetime) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(
        "SELECT * FROM calculate_monthly_costs_as_of(%s, %s, %s)", (org, month, received_before)).fetchone()
    if row is None:
        raise InvoiceError(f"calculate_monthly_costs_as_of returned nothing for {org} {month}")
    return row


def _plan(conn: psycopg.Connection, plan: str) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute("SELECT * FROM billing_plans WHERE plan = %s", (plan,)).fetchone()
    if row is None:
        raise LookupError(f"plan {plan!r} is not in billing_plans")
    return row


def compute_lines(conn: psycopg.Connection, org: uuid.UUID, month: dt.date, cutoff: dt.datetime,
                  settings: BillingSettings) -> tuple[list[Line], dict[str, Any], int]:
    """The lines of ``org``'s invoice for ``month`` counting usage received before ``cutoff``.

    Returns (lines, the month's costs row, late records of the previous month beyond the grace period).
    """
    costs = _costs(conn, org, month, cutoff)
    lines: list[Line] = []
    segments = conn.cursor(row_factory=dict_row).execute(
        "SELECT * FROM billing_plan_segments(%s, %s) WHERE days > 0", (org, month)).fetchall()
    for seg in segments:
        plan = _plan(conn, seg["plan"])
        name = PLAN_NAMES.get(seg["plan"], seg["plan"])
        last_day = seg["seg_end"] - dt.timedelta(days=1)
        if seg["days"] == seg["month_days"]:
            lines.append(Line(f"plan:{seg['plan']}:{seg['seg_start']}", "subscription",
                              f"{name} plan, {month:%B %Y}", Decimal(1), plan["monthly_fee_usd"], seg["fee_usd"],
                              {"days": seg["days"], "month_days": seg["month_days"]}))
        else:
            daily = (plan["monthly_fee_usd"] / seg["month_days"]).quantize(Decimal("0.000001"))
            lines.append(Line(f"plan:{seg['plan']}:{seg['seg_start']}", "proration",
                              f"{name} plan, {seg['seg_start']} to {last_day} ({seg['days']}/{seg['month_days']} days)",
                              Decimal(seg["days"]), daily, seg["fee_usd"],
                              {"days": seg["days"], "month_days": seg["month_days"],
                               "monthly_fee_usd": str(plan["monthly_fee_usd"])}))
    last_plan = _plan(conn, costs["plan"])
    for metric, over_col, usd_col, rate_col, line_type in (
        ("call_minutes", "overage_minutes", "overage_minutes_usd", "overage_per_minute_usd", "overage_minutes"),
        ("ai_calls", "overage_ai_calls", "overage_ai_calls_usd", "overage_per_ai_call_usd", "overage_ai_calls"),
    ):
        over = costs[over_col]
        if over <= 0:
            continue
        inc_col = "included_minutes" if metric == "call_minutes" else "included_ai_calls"
        capped = last_plan["hard_capped"]
        label = METRIC_LABELS[metric]
        desc = (f"{over.normalize():f} {label} over the {costs[inc_col]:,} included"
                + (" (hard cap: not billed)" if capped else ""))
        lines.append(Line(f"overage:{metric}", line_type, desc, over,
                          Decimal(0) if capped else last_plan[rate_col], costs[usd_col],
                          {"used": str(costs[metric]), "included": str(costs[inc_col]), "hard_capped": capped}))
    late_lines, unbilled = _late_usage_lines(conn, org, month, cutoff, settings)
    return lines + late_lines, costs, unbilled


def _late_usage_lines(conn: psycopg.Connection, org: uuid.UUID, month: dt.date, cutoff: dt.datetime,
                      settings: BillingSettings) -> tuple[list[Line], int]:
    """Adjustments for the previous month's usage that arrived after its invoice was finalized."""
    prev = previous_month(month)
    inv = conn.cursor(row_factory=dict_row).execute(
        """SELECT id, invoice_number, usage_cutoff_at FROM invoices
           WHERE organization_id = %s AND period_start = %s AND status IN ('finalized', 'paid')""",
        (org, prev)).fetchone()
    if inv is None or inv["usage_cutoff_at"] is None:
        return [], 0
    prev_start, prev_end = local_month_bounds(conn, org, prev)
    grace_end = prev_end + dt.timedelta(days=settings.late_usage_grace_days)
    late_until = min(cutoff, grace_end)
    unbilled = scalar(conn,
        """SELECT count(*) FROM usage_records
           WHERE organization_id = %s AND recorded_at >= %s AND recorded_at < %s
             AND received_at >= %s AND received_at >= %s AND metric IN ('call_minutes', 'ai_calls')""",
        (org, prev_start, prev_end, inv["usage_cutoff_at"], grace_end))
    if late_until <= inv["usage_cutoff_at"]:
        return [], unbilled
    counts = conn.cursor(row_factory=dict_row).execute(
        """SELECT metric, count(*) AS records, sum(quantity) AS quantity FROM usage_records
           WHERE organization_id = %s AND recorded_at >= %s AND recorded_at < %s
             AND received_at >= %s AND received_at < %s AND metric IN ('call_minutes', 'ai_calls')
           GROUP BY metric""",
        (org, prev_start, prev_end, inv["usage_cutoff_at"], late_until)).fetchall()
    if not counts:
        return [], unbilled
    billed = _costs(conn, org, prev, inv["usage_cutoff_at"])
    now_known = _costs(conn, org, prev, late_until)
    plan = _plan(conn, now_known["plan"])
    lines = []
    for c in counts:
        metric = c["metric"]
        over_col, usd_col, rate_col = (("overage_minutes", "overage_minutes_usd", "overage_per_minute_usd")
                                       if metric == "call_minutes" else
                                       ("overage_ai_calls", "overage_ai_calls_usd", "overage_per_ai_call_usd"))
        extra_over = now_known[over_col] - billed[over_col]
        amount = now_known[usd_col] - billed[usd_col]
        label = METRIC_LABELS[metric]
        desc = (f"Late usage for {prev:%B %Y} (invoice #{inv['invoice_number']}): "
                f"{c['quantity'].normalize():f} {label} in {c['records']} record(s)"
                + (f", {extra_over.normalize():f} over the allowance" if extra_over > 0 else ", within the allowance"))
        lines.append(Line(f"late:{prev:%Y-%m}:{metric}", "adjustment", desc, extra_over,
                          Decimal(0) if plan["hard_capped"] else plan[rate_col], amount,
                          {"for_period": prev.isoformat(), "for_invoice_id": str(inv["id"]),
                           "for_invoice_number": inv["invoice_number"], "late_records": c["records"],
                           "late_quantity": str(c["quantity"]), "received_from": inv["usage_cutoff_at"].isoformat(),
                           "received_before": late_until.isoformat()}))
    return lines, unbilled


def generate_invoice(conn: psycopg.Connection, org: uuid.UUID | str, month: dt.date, *,
                     now: dt.datetime | None = None, finalize: bool | None = None,
                     settings: BillingSettings | None = None) -> InvoiceResult:
    """Create or refresh ``org``'s invoice for ``month`` in one transaction; safe to run twice at once.

    ``finalize`` defaults to: the month is over (its last local day has ended). A finalized invoice is left
    as it is.
    """
    org = uuid.UUID(str(org))
    month = month_start(month)
    now = now or dt.datetime.now(dt.UTC)
    settings = settings or BillingSettings.from_env()
    period_end = next_month(month)
    starts_at, ends_at = local_month_bounds(conn, org, month)
    if finalize is None:
        finalize = now >= ends_at
    if finalize and now < ends_at:
        raise InvoiceError(f"cannot finalize the invoice for {month:%Y-%m} before the month is over "
                           f"(it ends at {ends_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC)")
    with conn.transaction():
        # One invoice writer per organization at a time; numbers are max+1 under this lock.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('auralink.invoice:' || %s::text))", (str(org),))
        if not conn.execute("SELECT 1 FROM organizations WHERE id = %s", (org,)).fetchone():
            raise InvoiceError(f"unknown organization {org}")
        existing = conn.cursor(row_factory=dict_row).execute(
            "SELECT * FROM invoices WHERE organization_id = %s AND period_start = %s", (org, month)).fetchone()
        if existing and existing["status"] != "draft":
            return InvoiceResult(org, month, "unchanged_finalized", existing["id"], existing["invoice_number"],
                                 existing["status"], existing["total_usd"])
        lines, costs, unbilled = compute_lines(conn, org, month, now, settings)
        base_total = sum((ln.amount_usd for ln in lines if ln.line_type != "adjustment"), Decimal(0))
        if base_total != costs["total_usd"]:
            raise InvoiceError(f"invoice lines {base_total} disagree with calculate_monthly_costs "
                               f"{costs['total_usd']} for {org} {month:%Y-%m}")
        subtotal = sum((ln.amount_usd for ln in lines), Decimal(0)).quantize(CENT)
        metadata = {"plan": costs["plan"], "call_minutes": str(costs["call_minutes"]),
                    "ai_calls": str(costs["ai_calls"]), "included_minutes": str(costs["included_minutes"]),
                    "included_ai_calls": str(costs["included_ai_calls"]),
                    "late_usage_grace_days": settings.late_usage_grace_days,
                    "unbilled_late_records": unbilled,
                    "period_starts_at": starts_at.isoformat(), "period_ends_at": ends_at.isoformat()}
        email = conn.execute(
            """SELECT u.email FROM organization_members m JOIN users u ON u.id = m.user_id
               WHERE m.organization_id = %s AND m.left_at IS NULL AND u.erased_at IS NULL
               ORDER BY (m.member_role = 'owner') DESC, m.joined_at, u.email LIMIT 1""", (org,)).fetchone()
        if existing is None:
            number = scalar(conn, "SELECT COALESCE(max(invoice_number), 0) + 1 FROM invoices WHERE organization_id = %s",
                                  (org,))
            invoice_id = scalar(conn,
                """INSERT INTO invoices (organization_id, invoice_number, period_start, period_end, status,
                                         subtotal_usd, tax_usd, total_usd, billing_email, issued_at,
                                         usage_cutoff_at, metadata)
                   VALUES (%s, %s, %s, %s, 'draft', %s, 0, %s, %s, %s, %s, %s) RETURNING id""",
                (org, number, month, period_end, subtotal, subtotal, email[0] if email else None, now, now,
                 Jsonb(metadata)))
            outcome = "created"
        else:
            invoice_id, number = existing["id"], existing["invoice_number"]
            conn.execute(
                """UPDATE invoices SET subtotal_usd = %s, total_usd = %s, usage_cutoff_at = %s, metadata = %s,
                                       billing_email = COALESCE(%s, billing_email)
                   WHERE id = %s""",
                (subtotal, subtotal, now, Jsonb(metadata), email[0] if email else None, invoice_id))
            outcome = "updated"
        conn.execute("DELETE FROM invoice_line_items WHERE invoice_id = %s AND NOT (line_key = ANY(%s))",
                     (invoice_id, [ln.line_key for ln in lines]))
        for ln in lines:
            conn.execute(
                """INSERT INTO invoice_line_items (invoice_id, line_key, line_type, description, quantity,
                                                   unit_price_usd, amount_usd, metadata)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (invoice_id, line_key) DO UPDATE SET
                       line_type = EXCLUDED.line_type, description = EXCLUDED.description,
                       quantity = EXCLUDED.quantity, unit_price_usd = EXCLUDED.unit_price_usd,
                       amount_usd = EXCLUDED.amount_usd, metadata = EXCLUDED.metadata""",
                (invoice_id, ln.line_key, ln.line_type, ln.description, ln.quantity, ln.unit_price_usd,
                 ln.amount_usd, Jsonb(ln.metadata)))
        status = "draft"
        if finalize:
            conn.execute("UPDATE invoices SET status = 'finalized', finalized_at = %s, issued_at = %s WHERE id = %s",
                         (now, now, invoice_id))
            status = "finalized"
    return InvoiceResult(org, month, outcome, invoice_id, number, status, subtotal, lines, unbilled)


def billable_organizations(conn: psycopg.Connection, month: dt.date) -> list[uuid.UUID]:
    """Organizations that existed during their local ``month`` (created before its end, not deleted before
    its start)."""
    rows = conn.execute(
        """SELECT id FROM organizations
           WHERE org_local_date(id, created_at) < %(end)s
             AND (deleted_at IS NULL OR org_local_date(id, deleted_at) >= %(start)s)
           ORDER BY id""", {"start": month_start(month), "end": next_month(month)}).fetchall()
    return [r[0] for r in rows]


def invoice_document(conn: psycopg.Connection, org: uuid.UUID | str, month: dt.date) -> dict[str, Any] | None:
    """The invoice with its lines, as plain data (CLI output, tests)."""
    cur = conn.cursor(row_factory=dict_row)
    inv = cur.execute("SELECT * FROM invoices WHERE organization_id = %s AND period_start = %s",
                      (uuid.UUID(str(org)), month_start(month))).fetchone()
    if inv is None:
        return None
    inv["lines"] = cur.execute(
        """SELECT line_key, line_type, description, quantity, unit_price_usd, amount_usd, metadata
           FROM invoice_line_items WHERE invoice_id = %s ORDER BY id""", (inv["id"],)).fetchall()
    return inv
