"""Migrations apply from empty, re-apply as a no-op, record their version, and refuse edited history."""

from __future__ import annotations

from pathlib import Path

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
    # migrate made this month and three ahead, plus DEFAULT (not a month, so not listed here)
    made = [r[0] for r in db.execute("SELECT partition_name FROM monthly_partitions('audit_logs')")]
    this_month = db.execute("SELECT 'audit_logs_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')").fetchone()[0]
    assert len(made) == 4 and made[0] == this_month
    created = db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-15', '2026-03-02')").fetchone()[0]
    assert created == 3
    assert db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-03-01')").fetchone()[0] == 0
    parts = db.execute("SELECT partition_name, range_start::date, range_end::date FROM monthly_partitions('audit_logs')").fetchall()
    assert [p[0] for p in parts] == ["audit_logs_p202601", "audit_logs_p202602", "audit_logs_p202603", *made]
    assert str(parts[1][1]) == "2026-02-01" and str(parts[1][2]) == "2026-03-01"


def _copy_migrations(target: Path) -> list[migrate_mod.Migration]:
    target.mkdir()
    shipped = migrate_mod.available_migrations()
    for m in shipped:
        (target / f"{m.version:04d}_{m.name}.sql").write_text(m.sql)
    return shipped


def test_new_migrations_land_in_one_global_order(fresh_db_url, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "migrations"
    shipped = _copy_migrations(folder)
    assert len(migrate_mod.migrate(fresh_db_url, source=folder)) == len(shipped)
    newest = shipped[-1]
    # A new file numbered above the newest lands, on an existing database as on a fresh one.
    (folder / f"{newest.version + 1:04d}_later.sql").write_text("CREATE TABLE later_thing (id int);")
    assert [m.name for m in migrate_mod.migrate(fresh_db_url, source=folder)] == ["later"]
    # One numbered below the newest applied would run last here but early on a fresh database: refused,
    # and nothing else is applied with it.
    (folder / "0250_x.sql").write_text("CREATE TABLE x_thing (id int);")
    (folder / f"{newest.version + 2:04d}_after.sql").write_text("CREATE TABLE after_thing (id int);")
    expected = (f"migration 0250_x is numbered below the newest applied migration {newest.version + 1:04d}_later: "
                f"renumber it above {newest.version + 1:04d}")
    with pytest.raises(migrate_mod.MigrationError) as refused:
        migrate_mod.migrate(fresh_db_url, source=folder)
    assert str(refused.value) == expected
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT to_regclass('x_thing'), to_regclass('after_thing')").fetchone() == (None, None)
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == newest.version + 1
    st = migrate_mod.status(fresh_db_url, source=folder)
    assert st.refused == [(250, "x", expected.removeprefix("migration 0250_x is "))]
    assert [v for v, _ in st.pending] == [250, newest.version + 2]
    # `auralink db status` shows it refused; `auralink db migrate` fails in one line.
    from auralink.cli import main

    real = migrate_mod.available_migrations
    monkeypatch.setattr(migrate_mod, "available_migrations", lambda source=None: real(source or folder))
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert f"pending:  0250_x (refused: numbered below the newest applied migration {newest.version + 1:04d}_later" in out
    assert f"pending:  {newest.version + 2:04d}_after\n" in out
    assert main(["db", "migrate"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"auralink: error: {expected}" and "Traceback" not in err
    # Renumbered above the newest, it applies.
    (folder / "0250_x.sql").rename(folder / f"{newest.version + 3:04d}_x.sql")
    assert [m.name for m in migrate_mod.migrate(fresh_db_url, source=folder)] == ["after", "x"]


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
