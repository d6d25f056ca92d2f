"""Erasure (Art. 17): after erasing a user, no text or JSON column of any table holds their
identifiers outside held rows and pseudonymized references; holds block it; the proof is written."""

from __future__ import annotations

import json
from pathlib import Path

from auralink.compliance import requests
from auralink.compliance.erasure import text_columns
from auralink.jobs import run_job

from .conftest import skipped_items


def scan(conn, identifiers: list[str], *, exclude_held: bool = True) -> list[tuple[str, str, int]]:
    """Every (table, column, rows) whose text/JSON holds one of the identifiers (case-insensitive)."""
    hits = []
    for (schema, table), cols in text_columns(conn).items():
        if exclude_held and table in ("legal_holds", "audit_logs_held"):
            continue  # held rows are kept by design
        for col, typ in cols:
            expr = f'array_to_string("{col}", \' \')' if typ == "text[]" else f'"{col}"::text'
            for ident in identifiers:
                n = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {expr} ILIKE %s',
                                 (f"%{ident}%",)).fetchone()[0]
                if n:
                    hits.append((f"{schema}.{table}", col, n))
    return hits


def _erase(db, world, **kw):
    rid = requests.submit_request(db, organization_id=world.org, request_type="deletion",
                                  subject_email=world.alice_email, requested_by=world.alice_email, **kw)
    result = run_job("process_compliance_requests", {"request_id": str(rid)})
    row = db.execute("SELECT status, error, result_location, result_checksum FROM compliance_requests WHERE id = %s",
                     (rid,)).fetchone()
    return rid, result, row


def test_erasure_leaves_no_identifier_anywhere(world, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "exports"))
    idents = [world.alice_email, world.alice_name, world.alice_phone, str(world.alice)]
    # Data in places no erasure code names: another domain's table, a job's item log, the SQL archive table.
    db.execute("CREATE TABLE call_notes (id serial, organization_id uuid, note text, meta jsonb, tags text[])")
    db.execute("INSERT INTO call_notes (organization_id, note, meta, tags) VALUES (%s, %s, %s, %s)",
               (world.org, f"Ask {world.alice_name} about pricing", json.dumps({"who": world.alice_email}),
                [world.alice_phone, "vip"]))
    db.execute("INSERT INTO job_runs (job_name, params) VALUES ('x', %s)", (json.dumps({"user": str(world.alice)}),))
    db.execute("SELECT archive_old_audit_logs(interval '150 days')")  # moves May/June rows to audit_logs_archive
    # An earlier export of hers exists as a file: erasure deletes it.
    exp = requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.alice)
    run_job("process_compliance_requests", {"request_id": str(exp)})
    export_file = db.execute("SELECT result_location FROM compliance_requests WHERE id = %s", (exp,)).fetchone()[0]
    assert scan(db, idents)  # she is everywhere before

    rid, _result, (status, error, location, _checksum) = _erase(db, world)
    assert status == "completed" and error is None, error
    assert scan(db, idents) == []
    # Pseudonymized, not deleted: the audit events and financial records are still there.
    pseudo = db.execute("SELECT pseudonym FROM users WHERE id = %s AND erased_at IS NOT NULL", (world.alice,)).fetchone()[0]
    assert pseudo.startswith("subject-")
    assert db.execute("SELECT count(*) FROM audit_logs WHERE actor_email = %s", (f"{pseudo}@erased.invalid",)).fetchone()[0] == 10
    assert db.execute("SELECT count(*) FROM audit_logs_archive WHERE actor_email = %s", (f"{pseudo}@erased.invalid",)).fetchone()[0] == 20
    assert db.execute("SELECT count(DISTINCT actor_user_id) FROM audit_logs WHERE actor_email LIKE 'subject-%%'").fetchone()[0] == 1
    assert db.execute("SELECT billing_email FROM invoices").fetchone()[0] == f"{pseudo}@erased.invalid"
    assert db.execute("SELECT count(*) FROM usage_records").fetchone()[0] == 2
    # Derived data: her solo call's audio, transcript gone; shared calls' transcripts pseudonymized.
    assert not world.solo_audio.exists() and all(f.exists() for f in world.audio_files)
    assert db.execute("SELECT status FROM call_recordings WHERE id = %s", (world.solo_recording,)).fetchone()[0] == "deleted"
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM transcriptions WHERE text LIKE %s", (f"%{pseudo}%",)).fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM consents WHERE user_id = %s", (world.alice,)).fetchone()[0] == 0
    import os
    assert not os.path.exists(export_file)
    # Proof of erasure: stored, checksummed, and itself free of her identifiers.
    proof_text = Path(location).read_text()
    assert not any(i.lower() in proof_text.lower() for i in idents)
    proof = json.loads(proof_text)["proof_of_erasure"]
    assert proof["pseudonym"] == pseudo and proof["deleted"]["consents"] == 1
    assert proof["deleted"]["call_recordings (audio)"] == 1 and proof["files_deleted"] == 2
    assert any("Art. 17(3)(b)" in k["basis"] for k in proof["kept"])
    assert "call_notes (identifier sweep)" in proof["pseudonymized"]
    assert db.execute("SELECT pseudonym FROM erasure_ledger WHERE request_id = %s", (rid,)).fetchone()[0] == pseudo
    # Bob is untouched.
    assert db.execute("SELECT full_name FROM users WHERE id = %s", (world.bob,)).fetchone()[0] == "Bob Builder"
    # Erasing again is refused clearly (nothing identifiable is left).
    _, _, (status2, error2, _, _) = _erase(db, world)
    assert status2 == "rejected" and "unknown data subject" in error2


def test_erasure_names_the_views_to_rebuild_and_rebuilds_them(world, db):
    db.execute("CREATE SCHEMA analytics")
    db.execute("CREATE MATERIALIZED VIEW analytics.user_calls AS SELECT p.display_name, count(*) AS calls "
               "FROM call_participants p GROUP BY 1")
    assert db.execute("SELECT count(*) FROM analytics.user_calls WHERE display_name = %s", (world.alice_name,)).fetchone()[0] == 1
    _rid, _, (status, _, location, _) = _erase(db, world)
    assert status == "completed"
    proof = json.loads(Path(location).read_text())["proof_of_erasure"]
    assert proof["views_to_rebuild"] == ["analytics.user_calls"] == proof["views_rebuilt"]
    assert db.execute("SELECT count(*) FROM analytics.user_calls WHERE display_name = %s", (world.alice_name,)).fetchone()[0] == 0


def test_user_hold_blocks_erasure(world, db):
    db.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, case_reference, placed_by)"
               " VALUES (%s,'user',%s,'Employment tribunal','ET-7','legal')", (world.org, world.alice))
    _rid, result, (status, error, _, _) = _erase(db, world)
    assert status == "rejected" and "erasure blocked by legal hold" in error and "Employment tribunal" in error
    assert db.execute("SELECT email FROM users WHERE id = %s", (world.alice,)).fetchone()[0] == world.alice_email
    assert world.solo_audio.exists()
    assert any("Employment tribunal" in s[2] for s in skipped_items(db.info.dsn, result["run_id"]))


def test_organization_and_resource_holds_keep_their_rows(world, db):
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s,'organization',"
               "'Regulator inquiry','legal')", (world.other_org,))
    db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, placed_by)"
               " VALUES (%s,'resource','recording',%s,'Evidence in dispute D-9','legal')", (world.org, str(world.solo_recording)))
    before_other = db.execute("SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                              (world.other_org, world.alice)).fetchone()[0]
    assert before_other > 0
    _rid, result, (status, error, location, _) = _erase(db, world)
    assert status == "completed", error
    # Held: her audit events in the held organization, and the held recording's audio.
    assert db.execute("SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                      (world.other_org, world.alice)).fetchone()[0] == before_other
    assert world.solo_audio.exists()
    assert db.execute("SELECT status FROM call_recordings WHERE id = %s", (world.solo_recording,)).fetchone()[0] == "transcribed"
    proof = json.loads(Path(location).read_text())["proof_of_erasure"]
    reasons = " ".join(h["reason"] for h in proof["held"])
    assert "Regulator inquiry" in reasons and "Evidence in dispute D-9" in reasons
    skipped = skipped_items(db.info.dsn, result["run_id"])
    assert any("Regulator inquiry" in s[2] for s in skipped) and any("D-9" in s[2] for s in skipped)
    # Outside the holds she is gone.
    assert db.execute("SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                      (world.org, world.alice)).fetchone()[0] == 0


def test_a_lock_held_by_another_job_leaves_the_request_pending_for_the_next_run(world, db, db_url):
    import psycopg

    rid = requests.submit_request(db, organization_id=world.org, request_type="deletion", subject_user_id=world.alice)
    with psycopg.connect(db_url) as other:
        other.execute("LOCK TABLE consents IN ACCESS EXCLUSIVE MODE")  # e.g. a long retention transaction
        result = run_job("process_compliance_requests", {"lock_timeout_seconds": "1"})
        assert result.get("retry") == 1
        status, error = db.execute("SELECT status, error FROM compliance_requests WHERE id = %s", (rid,)).fetchone()
        assert status == "pending" and "transient" in error
        assert db.execute("SELECT erased_at FROM users WHERE id = %s", (world.alice,)).fetchone()[0] is None
    assert run_job("process_compliance_requests", {})["completed"] == 1
    assert db.execute("SELECT status, error FROM compliance_requests WHERE id = %s", (rid,)).fetchone() == ("completed", None)
