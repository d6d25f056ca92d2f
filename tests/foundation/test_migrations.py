"""Migrations apply from empty, re-apply as a no-op, record their version, and refuse edited history."""

from __future__ import annotations

import psycopg
import pytest
from auralink.db import migrate as migrate_mod

from tests.concurrency import run_concurrently


def test_migrate_from_empty_then_noop(fresh_db_url):
    applied = migrate_mod.migrate(fresh_db_url)
    assert [m.version for m in applied] == [m.version for m in migrate_mod.available_migrations()]
    assert migrate_mod.migrate(fresh_db_url) == []
    st = migrate_mod.status(fresh_db_url)
    assert st.pending == [] and st.current_version == applied[-1].version
    with psycopg.connect(fresh_db_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
    expected = {"organizations", "users", "organization_members", "calls", "call_participants", "call_recordings",
                "call_quality_samples", "transcriptions", "call_summaries", "ai_usage", "sso_configs", "audit_logs",
                "data_retention_policies", "legal_holds", "compliance_requests", "security_events",
                "ai_usage_analytics", "cost_optimization_insights", "custom_reports", "rbac_roles",
                "user_role_assignments", "casbin_rule", "subscriptions", "invoices", "invoice_line_items",
                "usage_records", "airflow_dag_runs", "argo_workflows", "schema_migrations"}
    assert expected <= tables


def test_status_of_empty_database(fresh_db_url):
    st = migrate_mod.status(fresh_db_url)
    assert st.current_version is None
    assert len(st.pending) == len(migrate_mod.available_migrations())


def test_edited_migration_is_refused(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(migrate_mod.MigrationError, match="changed after it was applied"):
        migrate_mod.migrate(db_url)


def test_concurrent_migrations_apply_once(fresh_db_url):
    _, errors = run_concurrently(lambda: migrate_mod.migrate(fresh_db_url))
    assert errors == []
    with psycopg.connect(fresh_db_url) as conn:
        n = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert n == len(migrate_mod.available_migrations())


def test_partitioned_tables_are_partitioned_by_month(db):
    rows = db.execute(
        """SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c
           WHERE c.relkind = 'p' AND c.relname IN ('audit_logs', 'usage_records') ORDER BY 1""").fetchall()
    assert rows == [("audit_logs", "RANGE (occurred_at)"), ("usage_records", "RANGE (recorded_at)")]
    created = db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-15', '2026-03-02')").fetchone()[0]
    assert created == 3
    assert db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-03-01')").fetchone()[0] == 0
    parts = db.execute("SELECT partition_name, range_start::date, range_end::date FROM monthly_partitions('audit_logs')").fetchall()
    assert [p[0] for p in parts] == ["audit_logs_p202601", "audit_logs_p202602", "audit_logs_p202603"]
    assert str(parts[1][1]) == "2026-02-01" and str(parts[1][2]) == "2026-03-01"


def test_every_deleting_foreign_key_is_indexed(db):
    """A CASCADE / SET NULL foreign key without an index turns one parent delete into a full scan."""
    unindexed = db.execute("""
        SELECT c.conrelid::regclass::text || '.' || a.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n') AND cardinality(c.conkey) = 1
          AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
        ORDER BY 1""").fetchall()
    assert unindexed == []
