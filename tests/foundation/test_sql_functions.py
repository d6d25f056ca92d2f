"""The three SQL functions on hand-computed data."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest


def _org(db, plan: str) -> uuid.UUID:
    org = uuid.uuid4()
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, %s, %s, %s)",
               (org, f"Org {plan}", f"org-{org.hex[:8]}", plan))
    return org


def _usage(db, org, metric, quantity, at="2026-11-10T12:00:00Z"):
    db.execute("SELECT ensure_monthly_partitions('usage_records', '2026-10-01', '2026-12-01')")
    db.execute("""INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)
                  VALUES (%s, %s, %s, %s, %s)""", (org, metric, quantity, at, uuid.uuid4().hex))


def _costs(db, org, month="2026-11-01"):
    cur = db.execute("SELECT * FROM calculate_monthly_costs(%s, %s)", (org, month))
    names = [d.name for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def test_pro_with_overage(db):
    org = _org(db, "pro")
    db.execute("INSERT INTO subscriptions (organization_id, plan, started_at) VALUES (%s, 'pro', '2026-01-01Z')", (org,))
    _usage(db, org, "call_minutes", 12000)
    _usage(db, org, "ai_calls", 1500)
    _usage(db, org, "call_minutes", 999, at="2026-12-01T00:00:00Z")   # next month: not counted
    db.execute("""INSERT INTO ai_usage (organization_id, feature, provider, model, unit_type, units, cost_usd, occurred_at)
                  VALUES (%s, 'llm', 'openai', 'gpt-4o', 'requests', 1, 1.25, '2026-11-05Z')""", (org,))
    c = _costs(db, org)
    assert c["plan"] == "pro"
    assert c["base_fee_usd"] == Decimal("49.00")
    assert (c["included_minutes"], c["overage_minutes"]) == (10000, 2000)
    assert c["overage_minutes_usd"] == Decimal("8.00")          # 2,000 x $0.004
    assert (c["included_ai_calls"], c["overage_ai_calls"]) == (1000, 500)
    assert c["overage_ai_calls_usd"] == Decimal("10.00")        # 500 x $0.02
    assert c["ai_provider_cost_usd"] == Decimal("1.25")
    assert c["total_usd"] == Decimal("67.00")


def test_mid_month_upgrade_is_prorated_by_day(db):
    org = _org(db, "enterprise")
    db.execute("""INSERT INTO subscriptions (organization_id, plan, status, started_at, ended_at)
                  VALUES (%s, 'pro', 'canceled', '2026-10-01Z', '2026-11-16Z'),
                         (%s, 'enterprise', 'active', '2026-11-16Z', NULL)""", (org, org))
    _usage(db, org, "call_minutes", 60000)
    c = _costs(db, org)
    # November has 30 days: 15 on Pro, 15 on Enterprise.
    assert c["base_fee_usd"] == Decimal("24.50") + Decimal("249.50")
    assert c["included_minutes"] == 55000                     # 10,000/2 + 100,000/2
    assert c["overage_minutes_usd"] == Decimal("15.00")        # 5,000 x $0.003, the plan at month end
    assert c["plan"] == "enterprise"
    assert c["total_usd"] == Decimal("289.00")


def test_free_plan_is_hard_capped(db):
    org = _org(db, "free")      # no subscription rows: billed on organizations.plan
    _usage(db, org, "call_minutes", 1500)
    _usage(db, org, "ai_calls", 150)
    c = _costs(db, org)
    assert c["overage_minutes"] == 500 and c["overage_minutes_usd"] == 0
    assert c["total_usd"] == 0


def test_unknown_organization_is_a_clear_error(db):
    with pytest.raises(psycopg.errors.NoDataFound, match="unknown organization"):
        _costs(db, uuid.uuid4())


def test_archive_old_audit_logs_moves_verifies_and_drops(db):
    kept_org, held_org = _org(db, "pro"), _org(db, "enterprise")
    db.execute("SELECT ensure_monthly_partitions('audit_logs', (now() - interval '230 days')::date, now()::date)")
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s, 'organization', 'litigation', 'legal')", (held_org,))
    rows = [(kept_org, "220 days"), (kept_org, "219 days"), (kept_org, "218 days"),  # one old month, all archivable
            (held_org, "160 days"),                                                    # held: stays
            (kept_org, "95 days"),                                                     # past retention, month not whole
            (kept_org, "10 days"), (held_org, "5 days")]                               # recent
    for org, age in rows:
        db.execute(f"INSERT INTO audit_logs (organization_id, action, occurred_at) VALUES (%s, 'auth.login', now() - interval '{age}')", (org,))
    old_partition = db.execute("SELECT 'audit_logs_p' || to_char(now() - interval '219 days', 'YYYYMM')").fetchone()[0]
    held_partition = db.execute("SELECT 'audit_logs_p' || to_char(now() - interval '160 days', 'YYYYMM')").fetchone()[0]

    assert db.execute("SELECT archive_old_audit_logs()").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM audit_logs_archive").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM audit_logs WHERE organization_id = %s", (held_org,)).fetchone()[0] == 2
    partitions = {r[0] for r in db.execute("SELECT partition_name FROM monthly_partitions('audit_logs')").fetchall()}
    assert old_partition not in partitions       # whole month past retention and emptied: dropped
    assert held_partition in partitions          # still holds a held row
    # Re-running finds nothing more to do.
    assert db.execute("SELECT archive_old_audit_logs()").fetchone()[0] == 0
    with pytest.raises(psycopg.errors.RaiseException, match="shorter than a day"):
        db.execute("SELECT archive_old_audit_logs(interval '1 hour')")


def test_refresh_analytics_views_in_dependency_order(db):
    db.execute("CREATE SCHEMA analytics")
    db.execute("CREATE TABLE analytics.src (k int PRIMARY KEY, v int)")
    db.execute("INSERT INTO analytics.src VALUES (1, 10)")
    # 'a_top' sorts first by name but depends on 'z_base': the function must refresh z_base first.
    db.execute("CREATE MATERIALIZED VIEW analytics.z_base AS SELECT k, v FROM analytics.src")
    db.execute("CREATE UNIQUE INDEX ON analytics.z_base (k)")
    db.execute("CREATE MATERIALIZED VIEW analytics.a_top AS SELECT sum(v) AS total FROM analytics.z_base")
    db.execute("INSERT INTO analytics.src VALUES (2, 32)")
    rows = db.execute("SELECT view_name, refreshed_concurrently FROM refresh_analytics_views()").fetchall()
    assert rows == [("z_base", True), ("a_top", False)]
    assert db.execute("SELECT total FROM analytics.a_top").fetchone()[0] == 42
