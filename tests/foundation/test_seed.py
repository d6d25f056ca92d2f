"""The generator is deterministic for a seed, fills every table, and plants what later jobs look for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from auralink.seed.generator import SeedConfig, SeedError, seed_database, speech_scripts

# Columns whose values are not a function of the seed: clock defaults and random AES-GCM nonces.
_VOLATILE = {"created_at", "updated_at", "placed_at", "secret_encrypted", "client_secret_encrypted",
             "private_key_encrypted", "recorded_at_default"}
TABLES = ["organizations", "users", "organization_members", "subscriptions", "calls", "call_participants",
          "call_quality_samples", "call_recordings", "ai_usage", "usage_records", "audit_logs", "consents",
          "rbac_roles", "user_role_assignments", "casbin_rule", "data_retention_policies", "legal_holds",
          "compliance_requests", "custom_reports", "sso_configs", "api_keys"]


def fingerprint(url: str) -> dict[str, str]:
    out = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = 'public' "
                "ORDER BY ordinal_position", (table,)).fetchall() if r[0] not in _VOLATILE]
            if table == "compliance_requests":
                cols = [c for c in cols if c != "id"]   # gen_random_uuid()
            expr = "md5(coalesce(string_agg(row_text, '|' ORDER BY row_text), ''))"
            row = ", ".join(f'"{c}"' for c in cols)
            out[table] = conn.execute(f"SELECT {expr} FROM (SELECT ({row})::text AS row_text FROM {table}) t").fetchone()[0]
    return out


CFG = SeedConfig(orgs=3, days=3, seed=11, end_date=dt.date(2026, 11, 20))


def test_same_seed_same_data(db_url, make_database):
    other = make_database()
    seed_database(CFG, url=db_url, progress=False)
    seed_database(CFG, url=other, progress=False)
    assert fingerprint(db_url) == fingerprint(other)


def test_other_seed_other_data(db_url, make_database):
    other = make_database()
    seed_database(CFG, url=db_url, progress=False)
    seed_database(SeedConfig(orgs=3, days=3, seed=12, end_date=CFG.end_date), url=other, progress=False)
    a, b = fingerprint(db_url), fingerprint(other)
    assert a["calls"] != b["calls"] and a["users"] != b["users"]


def test_refuses_to_seed_twice_without_reset(db_url):
    seed_database(CFG, url=db_url, progress=False)
    with pytest.raises(SeedError, match="already has organizations"):
        seed_database(CFG, url=db_url, progress=False)
    before = fingerprint(db_url)
    seed_database(CFG, url=db_url, progress=False, reset=True)
    assert fingerprint(db_url) == before


def test_seeded_data_is_believable(seeded_db):
    q = lambda sql: seeded_db.execute(sql).fetchall()
    assert {r[0] for r in q("SELECT plan FROM organizations")} == {"free", "pro", "enterprise"}
    for table in TABLES:
        assert q(f"SELECT count(*) FROM {table}")[0][0] > 0, table
    # window and distributions
    lo, hi = q("SELECT min(started_at)::date, max(started_at)::date FROM calls")[0]
    assert lo >= dt.date(2026, 11, 16) and hi <= dt.date(2026, 11, 20)
    median = q("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) FROM calls WHERE status = 'completed'")[0][0]
    assert 120 < median < 900
    bad_share = q("SELECT avg((rtt_ms > 300)::int) FROM call_quality_samples")[0][0]
    assert 0.02 < bad_share < 0.25
    # metering adds up: per-minute usage equals participants' time in calls
    minutes, seconds = q("""SELECT (SELECT sum(quantity) FROM usage_records WHERE metric = 'call_minutes'),
                                   (SELECT sum(extract(epoch FROM left_at - joined_at) / 60) FROM call_participants p
                                    JOIN calls c ON c.id = p.call_id WHERE c.status = 'completed')""")[0]
    assert abs(float(minutes) - float(seconds)) / float(seconds) < 0.02
    assert q("SELECT count(*) FROM ai_usage")[0][0] == q("SELECT count(*) FROM usage_records WHERE metric = 'ai_calls'")[0][0]
    # suspicious audit patterns are there for the security rules
    burst = q("""SELECT max(n) FROM (SELECT count(*) AS n FROM audit_logs WHERE action = 'auth.login_failed'
                 GROUP BY actor_user_id, ip_address) t""")[0][0]
    assert burst >= 8
    assert q("SELECT count(*) FROM audit_logs WHERE action = 'member.role_changed' AND new_values->>'role' IN ('admin', 'owner')")[0][0] >= 1


def test_recordings_are_real_audio_with_some_bad_files(seeded_db):
    import soundfile

    rows = seeded_db.execute("SELECT storage_uri, size_bytes FROM call_recordings").fetchall()
    good = bad = 0
    for uri, size in rows:
        path = Path(urlparse(uri).path)
        try:
            info = soundfile.info(str(path))
            assert info.samplerate == 16000 and 3 < info.duration < 15
            good += 1
        except Exception:  # noqa: BLE001 - empty, garbage or missing: planted on purpose
            bad += 1
    assert good > 0 and good > bad
    assert len(speech_scripts()) == 12


def test_secrets_are_encrypted_at_rest(seeded_db):
    from auralink import crypto

    row = seeded_db.execute("SELECT key_prefix, secret_encrypted FROM api_keys LIMIT 1").fetchone()
    prefix, envelope = row
    assert prefix.encode() not in bytes(envelope)
    assert crypto.decrypt(envelope, "api_keys.secret").startswith(prefix)
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        crypto.decrypt(envelope, "sso_configs.client_secret")   # bound to its column


def test_every_foreign_key_holds(seeded_db):
    """The bulk load skips per-row FK triggers; every single-column FK must still hold afterwards."""
    fks = seeded_db.execute("""
        SELECT c.conrelid::regclass, a.attname, c.confrelid::regclass, af.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND c.connamespace = 'public'::regnamespace""").fetchall()
    assert len(fks) > 20
    for table, col, ref_table, ref_col in fks:
        orphans = seeded_db.execute(
            f"SELECT count(*) FROM {table} t WHERE t.{col} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {ref_table} r WHERE r.{ref_col} = t.{col})").fetchone()[0]
        assert orphans == 0, f"{table}.{col} -> {ref_table}.{ref_col}: {orphans} orphans"
