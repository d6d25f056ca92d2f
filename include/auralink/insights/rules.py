"""Cost-optimization insights, each with its evidence and an estimated monthly saving.

Rules (one function each, all per organization): plan right-sizing (a plan whose allowance is mostly
unused, or overage a higher tier would make cheaper), a cheaper model for summaries where LLM usage is
high, idle seats, recordings kept longer than the retention policy requires. The dedup key names the rule
and its subject, never the run, so a nightly refresh updates the same row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from auralink.insights.settings import InsightSettings

CENT = Decimal("0.01")
PLAN_ORDER = {"free": 0, "pro": 1, "enterprise": 2}
PLAN_NAMES = {"free": "Free", "pro": "Pro", "enterprise": "Enterprise"}
GB = Decimal(1024 ** 3)


def usd(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Insight:
    organization_id: uuid.UUID
    insight_type: str
    dedup_key: str
    title: str
    description: str
    saving_usd: Decimal
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrgWindow:
    organization_id: uuid.UUID
    as_of: dt.datetime
    start: dt.datetime
    observed_days: Decimal        # days of the window the organization has history for
    plan: str
    seats: int

    @property
    def monthly_factor(self) -> Decimal:
        return Decimal(30) / self.observed_days


def org_window(conn: psycopg.Connection, org: uuid.UUID, as_of: dt.datetime, s: InsightSettings) -> OrgWindow:
    start = as_of - dt.timedelta(days=s.window_days)
    row = conn.execute(
        """SELECT COALESCE((SELECT s.plan FROM subscriptions s WHERE s.organization_id = o.id AND s.started_at <= %(t)s
                              AND (s.ended_at IS NULL OR s.ended_at > %(t)s) ORDER BY s.started_at DESC LIMIT 1), o.plan),
                  COALESCE((SELECT s.seats FROM subscriptions s WHERE s.organization_id = o.id AND s.started_at <= %(t)s
                              AND (s.ended_at IS NULL OR s.ended_at > %(t)s) ORDER BY s.started_at DESC LIMIT 1), 1),
                  greatest(o.created_at, %(start)s,
                           COALESCE((SELECT min(u.recorded_at) FROM usage_records u WHERE u.organization_id = o.id
                                     AND u.metric IN ('call_minutes', 'ai_calls')), %(start)s))
           FROM organizations o WHERE o.id = %(org)s""",
        {"org": org, "t": as_of, "start": start}).fetchone()
    if row is None:
        raise LookupError(f"unknown organization {org}")
    plan, seats, since = row
    days = Decimal(max((as_of - since).total_seconds(), 0) / 86400).quantize(Decimal("0.01"))
    return OrgWindow(org, as_of, start, max(days, Decimal("0.01")), plan, seats)


def plan_cost(plan: dict[str, Any], minutes: Decimal, ai_calls: Decimal, s: InsightSettings) -> Decimal | None:
    """Monthly cost of ``plan`` for this usage; None when a hard-capped plan could not carry it."""
    if plan["hard_capped"]:
        if minutes > plan["included_minutes"] * s.capped_plan_headroom or \
                ai_calls > plan["included_ai_calls"] * s.capped_plan_headroom:
            return None
        return usd(plan["monthly_fee_usd"])
    over_min = max(minutes - plan["included_minutes"], Decimal(0))
    over_ai = max(ai_calls - plan["included_ai_calls"], Decimal(0))
    return usd(plan["monthly_fee_usd"] + usd(over_min * plan["overage_per_minute_usd"])
               + usd(over_ai * plan["overage_per_ai_call_usd"]))


def rule_plan_right_sizing(conn, w: OrgWindow, s: InsightSettings) -> list[Insight]:
    if w.observed_days < s.min_observed_days:
        return []
    minutes, ai_calls = conn.execute(
        """SELECT COALESCE(sum(quantity) FILTER (WHERE metric = 'call_minutes'), 0),
                  COALESCE(sum(quantity) FILTER (WHERE metric = 'ai_calls'), 0)
           FROM usage_records WHERE organization_id = %s AND recorded_at >= %s AND recorded_at < %s""",
        (w.organization_id, w.start, w.as_of)).fetchone()
    monthly_minutes = (minutes * w.monthly_factor).quantize(Decimal("0.01"))
    monthly_ai = (ai_calls * w.monthly_factor).quantize(Decimal("0.01"))
    plans = {p["plan"]: p for p in conn.cursor(row_factory=dict_row).execute("SELECT * FROM billing_plans").fetchall()}
    costs = {name: plan_cost(p, monthly_minutes, monthly_ai, s) for name, p in plans.items()}
    current = plans[w.plan]
    current_cost = plan_cost({**current, "hard_capped": False}, monthly_minutes, monthly_ai, s) \
        if current["hard_capped"] else costs[w.plan]
    feasible = {k: v for k, v in costs.items() if v is not None}
    if not feasible:
        return []
    best = min(feasible, key=lambda k: (feasible[k], PLAN_ORDER[k]))
    saving = usd(current_cost - feasible[best]) if current_cost is not None else Decimal(0)
    if best == w.plan or saving < s.min_monthly_saving_usd:
        return []
    use_min = (monthly_minutes / current["included_minutes"] * 100) if current["included_minutes"] else Decimal(0)
    use_ai = (monthly_ai / current["included_ai_calls"] * 100) if current["included_ai_calls"] else Decimal(0)
    evidence = {
        "current_plan": w.plan, "recommended_plan": best, "window_start": w.start.isoformat(),
        "window_end": w.as_of.isoformat(), "observed_days": str(w.observed_days),
        "call_minutes": str(minutes), "ai_calls": str(ai_calls),
        "monthly_call_minutes": str(monthly_minutes), "monthly_ai_calls": str(monthly_ai),
        "minutes_allowance_used_pct": str(use_min.quantize(Decimal("0.1"))),
        "ai_calls_allowance_used_pct": str(use_ai.quantize(Decimal("0.1"))),
        "monthly_cost_by_plan": {k: (str(v) if v is not None else "not possible (hard cap)") for k, v in costs.items()},
    }
    if PLAN_ORDER[best] < PLAN_ORDER[w.plan]:
        kind = "plan_downgrade"
        title = f"Move from {PLAN_NAMES[w.plan]} to {PLAN_NAMES[best]}"
        desc = (f"The organization uses {evidence['minutes_allowance_used_pct']}% of the {PLAN_NAMES[w.plan]} call-minute "
                f"allowance and {evidence['ai_calls_allowance_used_pct']}% of its AI calls; on {PLAN_NAMES[best]} the same "
                f"usage would cost ${feasible[best]} a month instead of ${current_cost}.")
    else:
        kind = "plan_upgrade"
        title = f"Upgrade from {PLAN_NAMES[w.plan]} to {PLAN_NAMES[best]} to stop paying overage"
        desc = (f"At {monthly_minutes} call minutes and {monthly_ai} AI calls a month, {PLAN_NAMES[w.plan]} costs "
                f"${current_cost} with overage; {PLAN_NAMES[best]} would cost ${feasible[best]}.")
    return [Insight(w.organization_id, kind, f"{kind}:{w.organization_id}", title, desc, saving, evidence)]


def rule_cheaper_summary_model(conn, w: OrgWindow, s: InsightSettings) -> list[Insight]:
    from auralink.pricing import UnknownPrice, price_for

    provider, _, model = s.cheaper_summary_model.partition("/")
    try:
        cheap = price_for("llm", provider, model)
    except UnknownPrice:
        raise ValueError(f"cheaper_summary_model {s.cheaper_summary_model!r} is not in the AI price book") from None
    rows = conn.cursor(row_factory=dict_row).execute(
        """SELECT provider, model, count(*) AS requests, sum(input_tokens) AS input_tokens,
                  sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
           FROM ai_usage WHERE organization_id = %s AND feature = 'llm' AND occurred_at >= %s AND occurred_at < %s
           GROUP BY provider, model ORDER BY provider, model""", (w.organization_id, w.start, w.as_of)).fetchall()
    out = []
    for r in rows:
        if (r["provider"], r["model"]) == (provider, model):
            continue
        monthly_requests = Decimal(r["requests"]) * w.monthly_factor
        if monthly_requests < s.summary_min_monthly_requests:
            continue
        try:
            current = price_for("llm", r["provider"], r["model"]).cost(r["requests"], r["input_tokens"], r["output_tokens"])
        except UnknownPrice:
            current = r["cost_usd"]
        alternative = cheap.cost(r["requests"], r["input_tokens"], r["output_tokens"])
        saving = usd((current - alternative) * w.monthly_factor)
        if saving < s.min_monthly_saving_usd:
            continue
        out.append(Insight(
            w.organization_id, "cheaper_summary_model",
            f"cheaper_summary_model:{w.organization_id}:{r['provider']}/{r['model']}",
            f"Summarize with {model} instead of {r['model']}",
            f"{int(monthly_requests)} summary requests a month go to {r['provider']}/{r['model']}; the same tokens on "
            f"{provider}/{model} would cost ${usd(alternative * w.monthly_factor)} instead of "
            f"${usd(current * w.monthly_factor)} a month.",
            saving,
            {"current_model": f"{r['provider']}/{r['model']}", "suggested_model": s.cheaper_summary_model,
             "requests": r["requests"], "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
             "observed_days": str(w.observed_days), "list_cost_usd": str(current),
             "suggested_list_cost_usd": str(alternative), "monthly_requests": str(int(monthly_requests))}))
    return out


def rule_idle_seats(conn, w: OrgWindow, s: InsightSettings) -> list[Insight]:
    active, members = conn.execute(
        """WITH m AS (SELECT user_id FROM organization_members WHERE organization_id = %(org)s AND left_at IS NULL)
           SELECT count(*) FILTER (WHERE EXISTS (
                      SELECT 1 FROM call_participants p JOIN calls c ON c.id = p.call_id
                      WHERE p.user_id = m.user_id AND c.organization_id = %(org)s
                        AND p.joined_at >= %(start)s AND p.joined_at < %(end)s)
                   OR EXISTS (SELECT 1 FROM audit_logs a WHERE a.actor_user_id = m.user_id AND a.organization_id = %(org)s
                        AND a.outcome = 'success' AND a.occurred_at >= %(start)s AND a.occurred_at < %(end)s)
                   OR EXISTS (SELECT 1 FROM ai_usage u WHERE u.user_id = m.user_id AND u.organization_id = %(org)s
                        AND u.occurred_at >= %(start)s AND u.occurred_at < %(end)s)),
                  count(*)
           FROM m""", {"org": w.organization_id, "start": w.start, "end": w.as_of}).fetchone()
    idle = w.seats - active
    if idle < s.min_idle_seats:
        return []
    fee = conn.execute("SELECT monthly_fee_usd FROM billing_plans WHERE plan = %s", (w.plan,)).fetchone()[0]
    # Plans are priced per organization: the saving shown is the share of the fee the idle seats stand for.
    saving = usd(fee * idle / w.seats)
    return [Insight(
        w.organization_id, "idle_seats", f"idle_seats:{w.organization_id}",
        f"{idle} of {w.seats} seats unused in {s.window_days} days",
        f"{active} of the {w.seats} paid seats were used (a call, a sign-in or AI use) in the last {s.window_days} "
        f"days; {members - active} member(s) were inactive. Reclaiming the idle seats frees their share of the "
        f"{PLAN_NAMES[w.plan]} fee.",
        saving,
        {"seats": w.seats, "active_users": active, "members": members, "idle_seats": idle,
         "window_days": s.window_days, "saving_method": "monthly fee x idle seats / seats"})]


def rule_recordings_over_retention(conn, w: OrgWindow, s: InsightSettings) -> list[Insight]:
    row = conn.cursor(row_factory=dict_row).execute(
        """SELECT p.retention_days, p.action, count(r.id) AS recordings, COALESCE(sum(r.size_bytes), 0) AS bytes,
                  min(r.created_at) AS oldest
           FROM data_retention_policies p
           JOIN call_recordings r ON r.organization_id = p.organization_id
           JOIN calls c ON c.id = r.call_id
           WHERE p.organization_id = %(org)s AND p.resource_type = 'recordings' AND p.enabled
             AND r.status <> 'deleted' AND r.deleted_at IS NULL
             AND r.created_at < %(t)s - make_interval(days => p.retention_days)
             AND NOT legal_hold_applies(r.organization_id, c.initiated_by, 'recording', r.id::text)
           GROUP BY p.retention_days, p.action""", {"org": w.organization_id, "t": w.as_of}).fetchone()
    if row is None or row["recordings"] < s.min_overdue_recordings:
        return []
    gb = Decimal(row["bytes"]) / GB
    saving = usd(gb * s.storage_cost_per_gb_month_usd)
    return [Insight(
        w.organization_id, "recordings_over_retention", f"recordings_over_retention:{w.organization_id}",
        f"{row['recordings']} recordings kept past the {row['retention_days']}-day retention policy",
        f"{row['recordings']} recordings ({gb.quantize(Decimal('0.001'))} GB, the oldest from {row['oldest']:%Y-%m-%d}) "
        f"are older than the policy's {row['retention_days']} days and not under legal hold; applying the policy "
        f"({row['action']}) stops paying to store them.",
        saving,
        {"recordings": row["recordings"], "bytes": int(row["bytes"]), "retention_days": row["retention_days"],
         "policy_action": row["action"], "oldest_created_at": row["oldest"].isoformat(),
         "storage_cost_per_gb_month_usd": str(s.storage_cost_per_gb_month_usd)})]


RULES = {
    "plan_right_sizing": rule_plan_right_sizing,
    "cheaper_summary_model": rule_cheaper_summary_model,
    "idle_seats": rule_idle_seats,
    "recordings_over_retention": rule_recordings_over_retention,
}
