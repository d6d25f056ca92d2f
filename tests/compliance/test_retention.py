"""Retention policies: delete / anonymize / archive per organization and resource type, legal holds
first, every run recorded."""

from __future__ import annotations

import csv
import gzip

from auralink.jobs import run_job

from tests.nights import ending

from .conftest import skipped_items

AS_OF = "2026-12-31T00:00:00+00:00"  # the world's calls (10-14 Nov 2026) are ~50 days old then


def _policy(db, org, rtype, days, action):
    db.execute("INSERT INTO data_retention_policies (organization_id, resource_type, retention_days, action)"
               " VALUES (%s,%s,%s,%s)", (org, rtype, days, action))


def test_recording_delete_removes_audio_and_respects_a_resource_hold(world, db):
    _policy(db, world.org, "recordings", 30, "delete")
    held = world.recordings[0]
    db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, placed_by)"
               " VALUES (%s,'resource','recording',%s,'Preserve for complaint CX-1','legal')", (world.org, str(held)))
    result = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert result["status"] == "succeeded" and result["rows_held"] == 1
    statuses = dict(db.execute("SELECT id, status FROM call_recordings").fetchall())
    assert statuses[held] == "transcribed" and world.audio_files[0].exists()
    assert all(statuses[r] == "deleted" for r in world.recordings[1:]) and not world.audio_files[1].exists()
    run = db.execute("SELECT status, rows_affected, files_deleted, rows_held, job_run_id FROM retention_runs").fetchone()
    assert run == ("succeeded", 4, 4, 1, result["run_id"])  # 3 shared calls' recordings + the solo one
    assert any("CX-1" in s[2] for s in skipped_items(db.info.dsn, result["run_id"]))
    # Idempotent: a second run finds nothing more to delete.
    again = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert again["rows_affected"] == 0


def test_organization_hold_blocks_every_policy_of_that_org(world, db):
    for rtype, action in (("transcripts", "delete"), ("audit_logs", "delete"), ("ai_usage", "anonymize")):
        _policy(db, world.org, rtype, 30, action)
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s,'organization',"
               "'Litigation hold L-1','legal')", (world.org,))
    before = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("transcriptions", "audit_logs")]
    result = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert result["rows_affected"] == 0 and result["rows_held"] > 0
    assert [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("transcriptions", "audit_logs")] == before
    assert db.execute("SELECT count(*) FROM ai_usage WHERE user_id IS NOT NULL").fetchone()[0] == 4
    assert all("L-1" in s[2] for s in skipped_items(db.info.dsn, result["run_id"]))


def test_anonymize_and_user_hold(world, db):
    _policy(db, world.org, "audit_logs", 60, "anonymize")
    _policy(db, world.org, "usage_records", 30, "anonymize")
    db.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by) VALUES (%s,'user',%s,"
               "'Investigation I-3','hr')", (world.org, world.bob))
    result = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert result["status"] == "succeeded"
    # Old audit rows of the org: alice's anonymized, bob's (held) kept.
    rows = db.execute("SELECT actor_user_id = %s, actor_email IS NULL FROM audit_logs WHERE organization_id = %s"
                      " AND occurred_at < '2026-11-01'", (world.bob, world.org)).fetchall()
    assert rows and all(anon != is_bob for is_bob, anon in rows)
    assert db.execute("SELECT count(*) FROM usage_records WHERE user_id IS NULL").fetchone()[0] == 1


def test_archive_action_writes_a_verified_file_then_deletes(world, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    _policy(db, world.org, "summaries", 30, "archive")
    _policy(db, world.org, "compliance_exports", 1, "delete")
    result = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert result["status"] == "succeeded"
    loc = db.execute("SELECT archive_location FROM retention_runs WHERE resource_type = 'summaries'").fetchone()[0]
    with gzip.open(loc, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and "agreed to send the contract" in rows[0]["summary"]
    assert db.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == 0


def test_archive_action_on_a_partitioned_table(world, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    _policy(db, world.org, "audit_logs", 60, "archive")   # cutoff 2026-11-01: the org's May and June rows
    old = db.execute("SELECT count(*) FROM audit_logs WHERE organization_id = %s AND occurred_at < '2026-11-01'",
                     (world.org,)).fetchone()[0]
    total = db.execute("SELECT count(*) FROM audit_logs").fetchone()[0]
    result = run_job("apply_retention_policies", {}, interval=ending(AS_OF))
    assert result["rows_affected"] == old == 48
    loc = db.execute("SELECT archive_location FROM retention_runs").fetchone()[0]
    with gzip.open(loc, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == old and {r["organization_id"] for r in rows} == {str(world.org)}
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone()[0] == total - old
