"""Erasure (Art. 17) as a new user meets it: exports first, then the default full scope. Each test here
is one finding of the erasure-catalog issue and failed on the code before it: export files that outlived
the erasure, holds on a call, a recording or a transcript that the sweep rewrote anyway, dbt tables that kept
the real user id, security events that kept the subject's IP, and a cost that grew with the database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest
from auralink.compliance import requests
from auralink.compliance.erasure import pseudonym_for
from auralink.jobs import run_job

from .conftest import ALICE_IP, erase_by_email, proof_of, skipped_items


def _one(db, query, *params):
    return db.execute(query, params).fetchone()[0]


# -- finding 1: export files survive erasure -----------------------------------------------------------------

def test_exports_asked_for_by_email_are_tied_to_the_subject_and_deleted_with_her(rich_world, db):
    w = rich_world.w
    files = {}
    for fmt, rid in rich_world.exports.items():
        subject, location = db.execute("SELECT subject_user_id, result_location FROM compliance_requests WHERE id = %s",
                                       (rid,)).fetchone()
        assert subject == w.alice, "a request by e-mail resolves its subject when it is submitted"
        assert Path(location).exists()
        files[fmt] = location
    _rid, _result, (status, error, location, _sha) = erase_by_email(db.info.dsn, w)
    assert (status, error) == ("completed", None)
    assert not any(Path(f).exists() for f in files.values())
    assert db.execute("SELECT count(*) FROM compliance_requests WHERE id = ANY(%s) AND result_location IS NOT NULL",
                      (list(rich_world.exports.values()),)).fetchone()[0] == 0
    proof = proof_of(location)
    assert set(files.values()) <= set(proof["files"]["deleted"])
    assert proof["files_deleted"] == 4   # three exports and the solo call's audio


# -- finding 2: the sweep overwrote rows under a resource hold -------------------------------------------

def _item_rows(db, w, resource: str):
    """Everything that hangs off the held item, as it is stored."""
    if resource == "call":
        call = w.calls[0]
        return [db.execute("SELECT c::text FROM calls c WHERE id = %s", (call,)).fetchall(),
                db.execute("SELECT p::text FROM call_participants p WHERE call_id = %s ORDER BY id", (call,)).fetchall(),
                db.execute("SELECT r::text FROM call_recordings r WHERE call_id = %s", (call,)).fetchall(),
                db.execute("SELECT t::text FROM transcriptions t WHERE call_id = %s", (call,)).fetchall(),
                db.execute("SELECT s::text FROM call_summaries s WHERE call_id = %s", (call,)).fetchall()]
    if resource == "recording":
        rec = w.solo_recording
        return [db.execute("SELECT r::text FROM call_recordings r WHERE id = %s", (rec,)).fetchall(),
                db.execute("SELECT t::text FROM transcriptions t WHERE recording_id = %s", (rec,)).fetchall(),
                [(w.solo_audio.read_bytes(),)]]
    tid = _one(db, "SELECT id FROM transcriptions WHERE call_id = %s", w.calls[1])
    return [db.execute("SELECT t::text FROM transcriptions t WHERE id = %s", (tid,)).fetchall(),
            db.execute("SELECT s::text FROM call_summaries s WHERE transcription_id = %s", (tid,)).fetchall()]


def _held_id(db, w, resource: str) -> str:
    if resource == "call":
        return str(w.calls[0])
    if resource == "recording":
        return str(w.solo_recording)
    tid = _one(db, "SELECT id FROM transcriptions WHERE call_id = %s", w.calls[1])
    if resource == "summary":   # a held summary keeps the transcript it was made from
        return str(_one(db, "SELECT id FROM call_summaries WHERE transcription_id = %s", tid))
    return str(tid)


@pytest.mark.parametrize("resource", ["call", "recording", "transcript", "summary"])
def test_a_hold_on_a_call_recording_transcript_or_summary_keeps_it_intact(rich_world, db, resource):
    w = rich_world.w
    held = _held_id(db, w, resource)
    db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, case_reference,"
               " placed_by) VALUES (%s,'resource',%s,%s,'Evidence in dispute D-9','D-9','legal')", (w.org, resource, held))
    before = _item_rows(db, w, resource)
    assert any(w.alice_name in str(rows) or str(w.alice) in str(rows) for rows in before)
    _rid, result, (status, error, location, _sha) = erase_by_email(db.info.dsn, w)
    assert (status, error) == ("completed", None)
    assert _item_rows(db, w, resource) == before
    proof = proof_of(location)
    named = [h for h in proof["held"] if "Evidence in dispute D-9" in h["reason"]]
    assert named and any(held in h["items"] for h in named), proof["held"]
    assert any("D-9" in reason for _t, _i, reason in skipped_items(db.info.dsn, result["run_id"]))
    # Outside the hold she is gone: the other shared calls' transcripts no longer name her.
    others = db.execute("SELECT text FROM transcriptions WHERE call_id = ANY(%s)", (w.calls[2:],)).fetchall()
    assert others and not any(w.alice_name in t for (t,) in others)


def test_a_held_participant_row_keeps_its_display_name(rich_world, db):
    w = rich_world.w
    db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, placed_by)"
               " VALUES (%s,'resource','call',%s,'Call under review','legal')", (w.org, str(w.calls[2])))
    erase_by_email(db.info.dsn, w)
    assert db.execute("SELECT user_id, display_name FROM call_participants WHERE call_id = %s AND display_name = %s",
                      (w.calls[2], w.alice_name)).fetchone() == (w.alice, w.alice_name)


def test_user_hold_blocks_erasure(world, db):
    db.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, case_reference, placed_by)"
               " VALUES (%s,'user',%s,'Employment tribunal','ET-7','legal')", (world.org, world.alice))
    _rid, result, (status, error, _, _) = erase_by_email(db.info.dsn, world)
    assert status == "rejected" and "erasure blocked by legal hold" in error and "Employment tribunal" in error
    assert _one(db, "SELECT email FROM users WHERE id = %s", world.alice) == world.alice_email
    assert world.solo_audio.exists()
    assert any("Employment tribunal" in s[2] for s in skipped_items(db.info.dsn, result["run_id"]))


def test_an_organization_hold_keeps_that_organizations_rows(world, db):
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s,'organization',"
               "'Regulator inquiry','legal')", (world.other_org,))
    before = _one(db, "SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                  world.other_org, world.alice)
    assert before > 0
    _rid, _result, (status, error, location, _) = erase_by_email(db.info.dsn, world)
    assert status == "completed", error
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                world.other_org, world.alice) == before
    assert any("Regulator inquiry" in h["reason"] for h in proof_of(location)["held"])
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE organization_id = %s AND actor_user_id = %s",
                world.org, world.alice) == 0


# -- finding 3: dbt models kept the real user id ---------------------------------------------------------

def _active_users(db) -> list[tuple]:
    return db.execute("SELECT organization_id, activity_date, count(*) FROM analytics_intermediate.int_active_users_daily"
                      " GROUP BY 1, 2 ORDER BY 1, 2").fetchall()


def _month_actives(db) -> list[tuple]:
    return db.execute("SELECT organization_id, period_type, period_start, active_users, users FROM "
                      "analytics.organization_analytics_summary ORDER BY 1, 2, 3").fetchall()


def test_dbt_tables_hold_the_pseudonymous_id_and_historical_counts_do_not_change(rich_world, db):
    from auralink.analytics.dbt_runner import build
    from auralink.jobs.interval import DataInterval

    w = rich_world.w
    url = w.url
    build(url=url, interval=DataInterval.for_day(dt.date(2026, 11, 20)))
    actives, summary = _active_users(db), _month_actives(db)
    assert _one(db, "SELECT count(*) FROM analytics_intermediate.int_active_users_daily WHERE user_id = %s", w.alice) > 0
    _rid, _result, (status, error, location, _) = erase_by_email(url, w)
    assert (status, error) == ("completed", None)
    _pseudo, pseudo_uuid = pseudonym_for(w.alice)

    def nowhere():
        for rel in ("analytics_intermediate.int_active_users_daily", "analytics_intermediate.int_call_participant_quality",
                    "analytics.fct_call_participant_quality", "analytics_intermediate.int_call_participants_enriched"):
            assert _one(db, f"SELECT count(*) FROM {rel} WHERE user_id = %s", w.alice) == 0, rel
        assert _one(db, "SELECT count(*) FROM analytics_intermediate.int_active_users_daily WHERE user_id = %s",
                    pseudo_uuid) > 0

    nowhere()
    assert _active_users(db) == actives
    models = {m["relation"]: m for m in proof_of(location)["models"]}
    assert models["analytics_intermediate.int_active_users_daily"]["action"] == "rewritten"
    assert models["analytics_intermediate.int_active_users_daily"]["rows"] > 0
    assert models["analytics_intermediate.int_call_participant_quality"]["rows"] > 0
    assert models["analytics.fct_call_participant_quality"]["action"] == "none needed"
    # The next night, outside the lookback: the old days stay as erasure left them.
    build(url=url, interval=DataInterval.for_day(dt.date(2026, 11, 27)))
    nowhere()
    # Rebuilt from nothing, from the pseudonymized sources: the same counts (the id never became NULL).
    build(url=url, interval=DataInterval.for_day(dt.date(2026, 11, 20)), full_refresh=True)
    nowhere()
    assert _active_users(db) == actives
    assert _month_actives(db) == summary


# -- finding 4: security events kept the subject's IP ---------------------------------------------------

def test_the_subjects_ip_goes_from_security_events_and_her_audit_events(rich_world, db):
    w = rich_world.w
    erase_by_email(db.info.dsn, w)
    event = db.execute("SELECT host(source_ip), description, evidence::text, dedup_key FROM security_events "
                       "WHERE rule = 'admin_new_location'").fetchone()
    assert event[0] is None
    assert not any(ALICE_IP in part or w.alice_email in part or str(w.alice) in part for part in event[1:])
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE ip_address = %s::inet", ALICE_IP) == 0
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE user_agent LIKE '%%Alice laptop%%'") == 0
    # bob's event about her (his row, his IP) names her no more, and keeps what is his.
    row = db.execute("SELECT description, evidence::text, user_id FROM security_events WHERE rule = "
                     "'privilege_escalation'").fetchone()
    assert str(w.alice) not in row[0] + row[1] and "bob.builder@example.com" in row[0] and row[2] == w.bob
    # The office address everyone shares is not hers alone: it stays in bob's rows.
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE actor_user_id = %s AND ip_address = '192.0.2.7'", w.bob) > 0


# -- finding 5: the cost grew with the whole database -----------------------------------------------------

def _seq_tuples(db) -> dict[str, int]:
    db.execute("SELECT pg_stat_clear_snapshot()")
    return dict(db.execute("SELECT relname, seq_tup_read FROM pg_stat_user_tables WHERE relname LIKE 'audit_logs%%' "
                           "OR relname LIKE 'usage_records%%' OR relname IN ('transcriptions', 'job_run_items')").fetchall())


def test_erasure_reads_the_subjects_rows_not_whole_tables(world, db):
    """20,000 audit events and usage records of other people: erasure reads none of them sequentially."""
    db.execute("INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, ip_address, request_metadata,"
               " occurred_at) SELECT %s, md5('u' || (g %% 500))::uuid, 'user' || (g %% 500) || '@bench.example',"
               " 'auth.login', '10.0.0.9', jsonb_build_object('path', '/api/v1/items/' || g),"
               " '2026-11-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 20000) g", (world.org,))
    db.execute("INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at, idempotency_key)"
               " SELECT %s, md5('u' || (g %% 500))::uuid, 'call_minutes', 1, '2026-11-01'::timestamptz"
               " + g * interval '1 minute', 'bench:' || g FROM generate_series(1, 20000) g", (world.org,))
    db.execute("ANALYZE")
    before = _seq_tuples(db)
    _rid, _result, (status, error, _, _) = erase_by_email(db.info.dsn, world)
    assert (status, error) == ("completed", None)
    after = _seq_tuples(db)
    read = {t: after[t] - before.get(t, 0) for t in after if after[t] - before.get(t, 0) > 0}
    assert sum(read.values()) < 1000, read


# -- mentions in other people's rows ----------------------------------------------------------------------

def test_mentions_in_other_peoples_rows_are_found_and_rewritten(rich_world, db):
    w = rich_world.w
    _rid, _result, (_status, _error, location, _) = erase_by_email(db.info.dsn, w)
    pseudo, _ = pseudonym_for(w.alice)
    text = _one(db, "SELECT text FROM transcriptions WHERE id = %s", rich_world.third_party_transcript)
    assert w.alice_name not in text and w.alice_phone not in text and w.alice_email not in text
    assert pseudo in text and "Carol: I spoke with" in text and "Bob: fine." in text
    assert _one(db, "SELECT summary FROM call_summaries WHERE call_id = %s", rich_world.third_party_call) == \
        f"Follow up with {pseudo}."
    invited = _one(db, "SELECT new_values FROM audit_logs WHERE action = 'member.invited'")
    assert invited == {"email": f"{pseudo}@erased.invalid", "full_name": pseudo}
    assert w.alice_email not in _one(db, "SELECT reason FROM job_run_items WHERE item_id = 'x'")
    assert _one(db, "SELECT name FROM custom_reports WHERE id = %s", rich_world.report_id) == f"{pseudo} weekly"
    mentions = proof_of(location)["mentions"]
    assert {"transcriptions", "call_summaries", "audit_logs", "job_run_items", "custom_reports"} <= set(mentions)
    # bob's and carol's own call: their rows, their names, untouched.
    assert db.execute("SELECT display_name FROM call_participants WHERE call_id = %s ORDER BY id",
                      (rich_world.third_party_call,)).fetchall() == [("Carol Danvers",), ("Bob Builder",)]


def test_files_that_showed_the_subject_are_rewritten_through_their_records(rich_world, db):
    from pypdf import PdfReader

    w = rich_world.w
    bob_file = _one(db, "SELECT result_location FROM compliance_requests WHERE id = %s", rich_world.bob_export)
    assert w.alice_name in Path(bob_file).read_text()   # their shared calls' transcripts name her
    _rid, _result, (_s, _e, location, _) = erase_by_email(db.info.dsn, w)
    proof = proof_of(location)
    bob_now = db.execute("SELECT result_location, result_checksum FROM compliance_requests WHERE id = %s",
                         (rich_world.bob_export,)).fetchone()
    assert w.alice_name not in Path(bob_now[0]).read_text() and "Bob Builder" in Path(bob_now[0]).read_text()
    import hashlib

    assert hashlib.sha256(Path(bob_now[0]).read_bytes()).hexdigest() == bob_now[1]
    outputs = _one(db, "SELECT outputs FROM report_runs WHERE report_id = %s", rich_world.report_id)
    for fmt, url in outputs.items():
        path = Path(url.removeprefix("file://"))
        text = ("\n".join(p.extract_text() for p in PdfReader(path).pages) if fmt == "pdf" else path.read_text())
        assert w.alice_name not in text, fmt
    report_files = _one(db, "SELECT stats -> 'files' FROM job_runs WHERE job_name = 'compliance_report'")
    assert w.alice_email not in Path(report_files["json"]["location"]).read_text()
    assert hashlib.sha256(Path(report_files["pdf"]["location"]).read_bytes()).hexdigest() == report_files["pdf"]["sha256"]
    docs = list((rich_world.home / "great_expectations").rglob("result.*"))
    assert docs and not any(w.alice_email in p.read_text() for p in docs)
    rewritten = json.dumps(proof["files"])
    assert "great_expectations" in rewritten and "reports" in rewritten
    assert any(r["file"] == bob_now[0] for r in proof["files"]["regenerated"])


# -- the rest of the record ---------------------------------------------------------------------------------

def test_the_proof_names_what_was_kept_and_why_and_holds_no_identifier(rich_world, db):
    w = rich_world.w
    rid, _result, (_s, _e, location, checksum) = erase_by_email(db.info.dsn, w)
    text = Path(location).read_text()
    assert not any(i.lower() in text.lower() for i in rich_world.identifiers())
    proof = json.loads(text)["proof_of_erasure"]
    kept = {k["what"]: k["basis"] for k in proof["kept"]}
    assert "Art. 17(3)(b)" in kept["usage_records"] and "Art. 17(3)(b)" in kept["audit_logs"]
    assert proof["deleted"]["consents"] == 1 and proof["deleted"]["call_recordings"] == 1
    assert proof["deleted"]["transcriptions"] == 1
    pseudo, pseudo_uuid = pseudonym_for(w.alice)
    assert proof["pseudonym"] == pseudo
    assert _one(db, "SELECT pseudonym FROM erasure_ledger WHERE request_id = %s", rid) == pseudo
    assert _one(db, "SELECT report_sha256 FROM erasure_ledger WHERE request_id = %s", rid) == checksum
    # Pseudonymized, not deleted: the audit events and usage stay, under one pseudonymous id.
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE actor_user_id = %s", pseudo_uuid) == 31
    assert _one(db, "SELECT count(*) FROM usage_records WHERE user_id = %s", pseudo_uuid) == 5
    assert _one(db, "SELECT billing_email FROM invoices") == f"{pseudo}@erased.invalid"
    assert _one(db, "SELECT count(*) FROM users WHERE id = ANY(%s) AND erased_at IS NOT NULL", [w.alice, pseudo_uuid]) == 2
    assert _one(db, "SELECT full_name FROM users WHERE id = %s", w.bob) == "Bob Builder"
    # Erasing again is refused clearly (nothing identifiable is left).
    _, _, (status2, error2, _, _) = erase_by_email(db.info.dsn, w)
    assert status2 == "rejected" and "unknown data subject" in error2


def test_a_table_the_catalog_does_not_know_is_scanned_and_flagged(world, db):
    db.execute("CREATE TABLE call_notes (id serial, organization_id uuid, note text, meta jsonb, tags text[])")
    db.execute("INSERT INTO call_notes (organization_id, note, meta, tags) VALUES (%s, %s, %s, %s)",
               (world.org, f"Ask {world.alice_name} about pricing", json.dumps({"who": world.alice_email}),
                [world.alice_phone, "vip"]))
    _rid, _result, (status, _e, location, _) = erase_by_email(db.info.dsn, world)
    assert status == "completed"
    note, meta, tags = db.execute("SELECT note, meta::text, array_to_string(tags, ' ') FROM call_notes").fetchone()
    assert not any(i in note + meta + tags for i in (world.alice_name, world.alice_email, world.alice_phone))
    assert any(u.startswith("call_notes:") for u in proof_of(location)["unclassified"])


def test_a_lock_held_by_another_job_leaves_the_request_pending_for_the_next_run(world, db, db_url):
    rid = requests.submit_request(db, organization_id=world.org, request_type="deletion", subject_user_id=world.alice)
    with psycopg.connect(db_url) as other:
        other.execute("LOCK TABLE consents IN ACCESS EXCLUSIVE MODE")  # e.g. a long retention transaction
        result = run_job("process_compliance_requests", {"lock_timeout_seconds": "1"})
        assert result.get("retry") == 1
        status, error = db.execute("SELECT status, error FROM compliance_requests WHERE id = %s", (rid,)).fetchone()
        assert status == "pending" and "transient" in error
        assert _one(db, "SELECT erased_at FROM users WHERE id = %s", world.alice) is None
    assert run_job("process_compliance_requests", {})["completed"] == 1
    assert db.execute("SELECT status, error FROM compliance_requests WHERE id = %s", (rid,)).fetchone() == ("completed", None)


def test_a_narrowed_scope_touches_only_its_categories(world, db):
    _rid, _result, (status, _e, location, _) = erase_by_email(db.info.dsn, world, scope={"categories": ["consents"]})
    assert status == "completed"
    assert _one(db, "SELECT count(*) FROM consents WHERE user_id = %s", world.alice) == 0
    assert _one(db, "SELECT count(*) FROM audit_logs WHERE actor_user_id = %s", world.alice) > 0
    assert "audit_logs" in proof_of(location)["skipped_categories"]
