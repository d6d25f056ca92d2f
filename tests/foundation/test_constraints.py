"""The schema rejects impossible data with errors that name the rule broken."""

from __future__ import annotations

import uuid

import pytest
from psycopg import errors


@pytest.fixture
def org_and_call(db):
    org, user, call = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, 'Acme', 'acme', 'pro')", (org,))
    db.execute("INSERT INTO users (id, email) VALUES (%s, 'a@acme.example')", (user,))
    db.execute("INSERT INTO calls (id, organization_id, started_at, duration_seconds) VALUES (%s, %s, now(), 60)", (call, org))
    pid = db.execute("INSERT INTO call_participants (call_id, user_id, joined_at) VALUES (%s, %s, now()) RETURNING id",
                     (call, user)).fetchone()[0]
    return org, user, call, pid


def _violates(db, sql, params, error, constraint_fragment):
    with pytest.raises(error) as info:
        db.execute(sql, params)
    assert constraint_fragment in str(info.value)


def test_negative_duration_rejected(db, org_and_call):
    org, _, _, _ = org_and_call
    _violates(db, "INSERT INTO calls (id, organization_id, started_at, duration_seconds) VALUES (%s, %s, now(), -5)",
              (uuid.uuid4(), org), errors.CheckViolation, "calls_duration_seconds_check")


def test_unknown_plan_rejected(db):
    _violates(db, "INSERT INTO organizations (id, name, slug, plan) VALUES (%s, 'X', 'x', 'platinum')",
              (uuid.uuid4(),), errors.CheckViolation, "organizations_plan_check")


def test_unknown_severity_rejected(db):
    db.execute("SELECT ensure_monthly_partitions('audit_logs', now()::date, now()::date)")
    _violates(db, "INSERT INTO audit_logs (action, severity, occurred_at) VALUES ('auth.login', 'panic', now())",
              (), errors.CheckViolation, "audit_logs_severity_check")


def test_packet_loss_is_a_fraction(db, org_and_call):
    _, _, call, pid = org_and_call
    _violates(db, """INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms, packet_loss, codec)
                     VALUES (%s, %s, now(), 50, 5, 1.5, 'opus')""", (call, pid), errors.CheckViolation,
              "call_quality_samples_packet_loss_check")


def test_foreign_keys_enforced(db):
    _violates(db, "INSERT INTO calls (id, organization_id, started_at) VALUES (%s, %s, now())",
              (uuid.uuid4(), uuid.uuid4()), errors.ForeignKeyViolation, "calls_organization_id_fkey")


def test_usage_record_idempotency_key(db, org_and_call):
    org = org_and_call[0]
    db.execute("SELECT ensure_monthly_partitions('usage_records', '2026-11-01', '2026-11-01')")
    sql = """INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)
             VALUES (%s, 'call_minutes', 1, '2026-11-03T10:00:00Z', 'evt-1') ON CONFLICT DO NOTHING"""
    db.execute(sql, (org,))
    db.execute(sql, (org,))
    assert db.execute("SELECT count(*) FROM usage_records").fetchone()[0] == 1


def test_usage_without_its_month_lands_in_default(db, org_and_call):
    """No write is refused for want of a partition: DEFAULT takes it (the nightly job moves it to its month)."""
    where = db.execute("""INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)
                          VALUES (%s, 'call_minutes', 1, '1999-01-01', 'k') RETURNING tableoid::regclass::text""",
                       (org_and_call[0],)).fetchone()[0]
    assert where == "usage_records_default"


def test_legal_hold_scope_must_be_consistent(db, org_and_call):
    org = org_and_call[0]
    _violates(db, "INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s, 'user', 'r', 'legal')",
              (org,), errors.CheckViolation, "legal_holds_check")


def test_one_current_subscription_per_org(db, org_and_call):
    org = org_and_call[0]
    db.execute("INSERT INTO subscriptions (organization_id, plan, started_at) VALUES (%s, 'pro', now())", (org,))
    _violates(db, "INSERT INTO subscriptions (organization_id, plan, started_at) VALUES (%s, 'enterprise', now())",
              (org,), errors.UniqueViolation, "subscriptions_one_current_key")
