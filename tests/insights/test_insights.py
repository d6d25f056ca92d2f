"""Each insight fires with its evidence and saving where it should, stays quiet elsewhere, and dedups."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal

import pytest
from auralink.billing.usage import record_usage
from auralink.insights.refresh import refresh_organization
from auralink.insights.settings import InsightSettings
from psycopg.rows import dict_row

from tests.nights import ending

AS_OF = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
START = AS_OF - dt.timedelta(days=30)
_n = itertools.count()


class Org:
    def __init__(self, conn, plan="pro", seats=1, members=1, activate=True):
        self.conn = conn
        self.id = uuid.uuid4()
        n = next(_n)
        conn.execute("SELECT ensure_monthly_partitions(t::regclass, '2026-07-01', '2026-12-31') "
                     "FROM unnest(ARRAY['audit_logs', 'usage_records']) t")
        conn.execute("INSERT INTO organizations (id, name, slug, plan, created_at) VALUES (%s, 'I', %s, %s, '2025-01-01')",
                     (self.id, f"ins-{n}", plan))
        conn.execute("INSERT INTO subscriptions (organization_id, plan, seats, started_at) VALUES (%s, %s, %s, '2025-01-01')",
                     (self.id, plan, seats))
        self.users = []
        for _ in range(members):
            uid = uuid.uuid4()
            conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (uid, f"{uid.hex[:8]}@x.example"))
            conn.execute("INSERT INTO organization_members (organization_id, user_id) VALUES (%s, %s)", (self.id, uid))
            self.users.append(uid)
            if activate:
                self.active(uid)

    def usage(self, minutes=0, ai_calls=0):
        """Usage spread from the window's start (30 days of history) to its end."""
        recs = []
        for k, (metric, qty) in enumerate((("call_minutes", minutes), ("ai_calls", ai_calls))):
            half = Decimal(qty) / 2
            recs += [{"organization_id": str(self.id), "metric": metric, "quantity": str(half), "recorded_at": at,
                      "idempotency_key": f"{self.id}:{metric}:{i}"}
                     for i, at in enumerate((START, AS_OF - dt.timedelta(days=1)))]
        record_usage(self.conn, recs)

    def llm(self, model, requests, provider="openai", input_tokens=2000, output_tokens=500):
        self.conn.execute(
            """INSERT INTO ai_usage (organization_id, feature, provider, model, unit_type, units, input_tokens,
                                     output_tokens, cost_usd, occurred_at)
               SELECT %s, 'llm', %s, %s, 'requests', 1, %s, %s, 0, %s + (g * interval '1 minute')
               FROM generate_series(1, %s) g""",
            (self.id, provider, model, input_tokens, output_tokens, START + dt.timedelta(hours=1), requests))

    def active(self, user):
        self.conn.execute("INSERT INTO audit_logs (organization_id, actor_user_id, action, occurred_at) "
                          "VALUES (%s, %s, 'auth.login', %s)", (self.id, user, AS_OF - dt.timedelta(days=2)))

    def recording(self, age_days, size_gb=1, hold=False):
        call, rec = uuid.uuid4(), uuid.uuid4()
        created = AS_OF - dt.timedelta(days=age_days)
        self.conn.execute("INSERT INTO calls (id, organization_id, started_at) VALUES (%s, %s, %s)", (call, self.id, created))
        self.conn.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, size_bytes, status, "
                          "created_at) VALUES (%s, %s, %s, 'file:///x.wav', %s, 'transcribed', %s)",
                          (rec, call, self.id, size_gb * 1024 ** 3, created))
        if hold:
            self.conn.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, "
                              "placed_by) VALUES (%s, 'resource', 'recording', %s, 'case 1', 'legal')", (self.id, str(rec)))

    def refresh(self, settings=None, as_of=AS_OF):
        return refresh_organization(self.conn, self.id, as_of, settings or InsightSettings())

    def insights(self):
        return self.conn.cursor(row_factory=dict_row).execute(
            "SELECT * FROM cost_optimization_insights WHERE organization_id = %s ORDER BY insight_type", (self.id,)).fetchall()

    def types(self):
        return [i["insight_type"] for i in self.insights() if i["status"] == "open"]


def test_pro_used_at_five_percent_is_advised_free(db):
    org = Org(db, "pro")
    org.usage(minutes=500, ai_calls=50)
    org.refresh()
    [ins] = org.insights()
    assert ins["insight_type"] == "plan_downgrade" and ins["estimated_monthly_saving_usd"] == Decimal("49.00")
    assert ins["evidence"]["minutes_allowance_used_pct"] == "5.0"
    assert ins["evidence"]["recommended_plan"] == "free"
    assert ins["evidence"]["monthly_cost_by_plan"]["enterprise"] == "499.00"


def test_enterprise_at_twenty_percent_is_advised_pro(db):
    org = Org(db, "enterprise")
    org.usage(minutes=20000, ai_calls=500)
    org.refresh()
    [ins] = org.insights()
    assert (ins["insight_type"], ins["evidence"]["recommended_plan"]) == ("plan_downgrade", "pro")
    assert ins["estimated_monthly_saving_usd"] == Decimal("410.00")     # 499 - (49 + 10,000 x 0.004)


def test_overage_a_higher_tier_makes_cheaper(db):
    org = Org(db, "pro")
    org.usage(minutes=200000)
    org.refresh()
    [ins] = org.insights()
    assert ins["insight_type"] == "plan_upgrade"
    assert ins["estimated_monthly_saving_usd"] == Decimal("10.00")      # 809 on Pro vs 799 on Enterprise


@pytest.mark.parametrize("plan, minutes, ai_calls", [("pro", 5000, 300), ("pro", 900, 90), ("free", 5000, 500),
                                                     ("enterprise", 150000, 9000), ("pro", 30000, 0)])
def test_plan_fits_stays_quiet(db, plan, minutes, ai_calls):
    org = Org(db, plan)
    org.usage(minutes=minutes, ai_calls=ai_calls)
    org.refresh()
    assert org.types() == []


def test_cheaper_summary_model_where_usage_is_high(db):
    org = Org(db, "enterprise")
    org.usage(minutes=150000, ai_calls=9000)
    org.llm("gpt-4o", 1000)
    org.llm("gpt-4o-mini", 5000)
    org.refresh()
    [ins] = org.insights()
    assert ins["insight_type"] == "cheaper_summary_model"
    assert ins["evidence"]["current_model"] == "openai/gpt-4o"
    # 1,000 x (2k x 0.0025 + 0.5k x 0.01) - 1,000 x (2k x 0.00015 + 0.5k x 0.0006) per 1k tokens
    assert ins["estimated_monthly_saving_usd"] == Decimal("9.40")


def test_cheaper_model_quiet_when_usage_low_or_model_cheap(db):
    org = Org(db, "enterprise")
    org.usage(minutes=150000, ai_calls=9000)
    org.llm("gpt-4o", 50)
    org.llm("gpt-4o-mini", 5000)
    org.refresh()
    assert org.types() == []


def test_idle_seats(db):
    org = Org(db, "pro", seats=10, members=4, activate=False)
    org.usage(minutes=5000, ai_calls=300)
    org.active(org.users[0])
    org.active(org.users[1])
    org.refresh()
    [ins] = org.insights()
    assert ins["insight_type"] == "idle_seats"
    assert ins["evidence"]["idle_seats"] == 8 and ins["evidence"]["active_users"] == 2
    assert ins["estimated_monthly_saving_usd"] == Decimal("39.20")


def test_all_seats_used_is_quiet(db):
    org = Org(db, "pro", seats=2, members=2)
    org.usage(minutes=5000, ai_calls=300)
    org.refresh()
    assert org.types() == []


def test_recordings_kept_past_retention(db):
    org = Org(db, "pro", seats=1, members=1)
    org.usage(minutes=5000, ai_calls=300)
    db.execute("INSERT INTO data_retention_policies (organization_id, resource_type, retention_days, action) "
               "VALUES (%s, 'recordings', 90, 'delete')", (org.id,))
    for _ in range(3):
        org.recording(age_days=120, size_gb=2)
    org.recording(age_days=200, size_gb=5, hold=True)     # under legal hold: must be kept
    org.recording(age_days=10)                           # within the policy
    org.refresh()
    [ins] = org.insights()
    assert ins["insight_type"] == "recordings_over_retention"
    assert ins["evidence"]["recordings"] == 3 and ins["evidence"]["retention_days"] == 90
    assert ins["estimated_monthly_saving_usd"] == Decimal("0.14")      # 6 GB x 0.023


def test_recordings_without_policy_are_quiet(db):
    org = Org(db, "pro", seats=1, members=1)
    org.usage(minutes=5000, ai_calls=300)
    org.recording(age_days=400)
    org.refresh()
    assert org.types() == []


def test_refresh_deduplicates_keeps_triage_and_resolves(db):
    org = Org(db, "pro", seats=5, members=1, activate=False)
    org.usage(minutes=500, ai_calls=50)
    first = org.refresh()
    assert first["new"] == 2                                # downgrade + idle seats
    db.execute("UPDATE cost_optimization_insights SET status = 'dismissed' WHERE insight_type = 'idle_seats'")
    second = org.refresh(as_of=AS_OF + dt.timedelta(hours=1))
    assert second == {"found": 2, "new": 0, "updated": 2, "resolved": 0}
    rows = {i["insight_type"]: i for i in org.insights()}
    assert len(rows) == 2 and rows["idle_seats"]["status"] == "dismissed"
    assert rows["plan_downgrade"]["first_detected_at"] == AS_OF
    assert rows["plan_downgrade"]["last_detected_at"] == AS_OF + dt.timedelta(hours=1)
    # usage grows past what Free carries: the downgrade advice is resolved, then re-opened when it holds again
    record_usage(db, [{"organization_id": str(org.id), "metric": "call_minutes", "quantity": "5000",
                       "recorded_at": AS_OF - dt.timedelta(days=3), "idempotency_key": "big"}])
    assert org.refresh()["resolved"] == 1
    assert {i["insight_type"]: i["status"] for i in org.insights()}["plan_downgrade"] == "resolved"


def test_job_on_seed(seeded_db):
    from auralink.jobs import run_job

    out = run_job("refresh_cost_insights", {}, interval=ending("2026-11-21T00:00:00+00:00"))
    assert out["status"] == "succeeded" and out["failed"] == 0
    again = run_job("refresh_cost_insights", {}, interval=ending("2026-11-21T01:00:00+00:00"))
    assert again["new"] == 0 and again["found"] == out["found"]
    print(seeded_db.execute("SELECT insight_type, title, estimated_monthly_saving_usd FROM cost_optimization_insights").fetchall())
