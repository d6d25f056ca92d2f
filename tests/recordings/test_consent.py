"""Consent-aware processing: a call is transcribed and summarised only with every participant's consent as
it stood at the call; skips are recorded with the reason, billed nothing and send nothing to an LLM; a
withdrawal takes back what was derived under it the next night, except what a legal hold keeps."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from auralink.jobs import graph, registry, run_job
from auralink.jobs.interval import DataInterval
from auralink.recordings import consent

from tests.recordings.conftest import (
    T0,
    join,
    new_call,
    new_org,
    new_recording,
    new_transcription,
    new_user,
)
from tests.recordings.fake_llm import FakeLLM

DAY = dt.timedelta(days=1)
UTC = dt.UTC


@pytest.fixture(autouse=True)
def _pocketsphinx(monkeypatch):   # the quick engine: these tests are about what is (not) transcribed
    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")


def night(day: dt.date) -> DataInterval:
    return DataInterval.for_day(day)


@pytest.fixture
def offline(monkeypatch):
    for var in ("AURALINK_OPENAI_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "AURALINK_SUMMARIZER"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.delenv("AURALINK_SUMMARIZER", raising=False)
    with FakeLLM() as server:
        monkeypatch.setenv("AURALINK_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
        yield server


def members_call(db, org: str, *users: str, guests: int = 0, attested: bool = True, at: dt.datetime = T0,
                 audio=None) -> tuple[str, list[int], str | None]:
    """A call of ``users`` (the first hosts) and ``guests``; its recording when ``audio`` is given."""
    call = new_call(db, org, participants=guests, attested=attested, at=at)
    pids = [join(db, call, u, role="host" if i == 0 else "participant", at=at) for i, u in enumerate(users)]
    rec = new_recording(db, org, call, audio) if audio is not None else None
    return call, pids, rec


def recording(db, rec: str) -> tuple:
    return db.execute("SELECT r.status, r.skip_reason, t.id, "
                      "(SELECT count(*) FROM ai_usage u WHERE u.idempotency_key = 'stt:recording:' || r.id::text) "
                      "FROM call_recordings r LEFT JOIN transcriptions t ON t.recording_id = r.id WHERE r.id = %s",
                      (rec,)).fetchone()


def items(db, run_id: int, item_type: str | None = None) -> dict[str, tuple[str, str | None]]:
    return {i: (o, r) for i, o, r in db.execute(
        "SELECT item_id, outcome, reason FROM job_run_items WHERE job_run_id = %s "
        "AND (%s::text IS NULL OR item_type = %s)", (run_id, item_type, item_type)).fetchall()}


# --- transcription and summaries skip what lacks consent --------------------------------------------

def test_a_participant_without_consent_stops_transcription_and_summary(db, speech_dir, llm):
    org = new_org(db)
    alice, bob = new_user(db, org), new_user(db, org, grant=())   # bob never answered
    _, _, ok = members_call(db, org, alice, audio=speech_dir / "s0.wav")
    _, (_, bob_pid), gap = members_call(db, org, alice, bob, audio=speech_dir / "s1.wav")

    result = run_job("transcribe_recordings")
    assert result["transcribed"] == 1 and result["skipped_no_consent"] == 1 and result["items"]["failed"] == 0
    assert recording(db, ok)[0] == "transcribed" and recording(db, ok)[3] == 1
    status, reason, transcript, billed = recording(db, gap)
    assert (status, transcript, billed) == ("skipped_no_consent", None, 0)   # not transcribed, not billed
    assert reason == (f"no consent: participant {bob_pid}: no recording consent on record at the call (organization "
                      "default: deny), no transcription consent on record at the call (organization default: deny): "
                      "not transcribed, not billed")
    assert items(db, result["run_id"])[gap] == ("skipped", reason)

    summarized = run_job("summarize_transcripts")
    assert summarized["items"] == {"succeeded": 1, "failed": 0, "skipped": 0}
    assert len(llm.requests) == 1   # the consented call only; the other never had a transcript
    # Handled for good: later runs neither claim nor bill it.
    assert run_job("transcribe_recordings")["claimed"] == 0
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 2


def test_a_refusal_stops_it_too_and_an_ai_refusal_stops_only_the_summary(db, speech_dir, llm):
    org = new_org(db)
    alice = new_user(db, org)
    no_stt = new_user(db, org, grant=("recording", "ai_processing"), refuse=("transcription",))
    no_ai = new_user(db, org, grant=("recording", "transcription"), refuse=("ai_processing",))
    _, (_, refuser), refused = members_call(db, org, alice, no_stt, audio=speech_dir / "s0.wav")
    _, (_, ai_refuser), transcribed_only = members_call(db, org, alice, no_ai, audio=speech_dir / "s1.wav")

    run_job("transcribe_recordings")
    status, reason, transcript, billed = recording(db, refused)
    assert (status, transcript, billed) == ("skipped_no_consent", None, 0)
    assert f"participant {refuser}: transcription refused at the call (since 2026-10-21 09:00 UTC)" in reason
    status, _, tid, billed = recording(db, transcribed_only)
    assert (status, billed) == ("transcribed", 1)

    result = run_job("summarize_transcripts")
    assert llm.requests == []   # nothing of it reached the LLM
    assert result["items"] == {"succeeded": 0, "failed": 0, "skipped": 1} and result["skipped_no_consent"] == 1
    outcome, why = items(db, result["run_id"])[str(tid)]
    assert outcome == "skipped" and why.startswith("no consent: ") and \
        f"participant {ai_refuser}: ai_processing refused at the call" in why and "nothing sent to an LLM" in why
    assert db.execute("SELECT summary_status, summary_skip_reason FROM transcriptions WHERE id = %s",
                      (tid,)).fetchone() == ("skipped_no_consent", why)
    assert db.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM ai_usage WHERE feature = 'llm'").fetchone()[0] == 0
    from auralink.recordings.summarize import count_pending

    assert count_pending(db) == 0   # not picked again (nor counted for the Argo fan-out)


def test_nothing_is_sent_to_the_llm_for_skipped_calls(db, llm):
    org = new_org(db)
    ok = new_transcription(db, org, "success call. We will send the report.")
    unattested = new_transcription(db, org, "success call. Secret plans.", call=new_call(db, org, attested=False))
    member = new_user(db, org, grant=("recording", "transcription"))
    lacking, _, _ = members_call(db, org, member)
    no_ai = new_transcription(db, org, "success call. More secret plans.", call=lacking)

    result = run_job("summarize_transcripts")
    assert result["items"] == {"succeeded": 1, "failed": 0, "skipped": 2}
    # Only the consented transcript left for the LLM; the others' words never did.
    assert [r["messages"][-1]["content"] for r in llm.requests] == ["Transcript:\nsuccess call. We will send the report."]
    got = items(db, result["run_id"])
    assert got[str(ok)] == ("succeeded", None)
    assert got[str(unattested)][0] == "skipped" and "1 guest without the host's attestation" in got[str(unattested)][1]
    assert got[str(no_ai)][0] == "skipped" and "no ai_processing consent on record" in got[str(no_ai)][1]
    assert db.execute("SELECT count(*) FROM ai_usage WHERE feature = 'llm'").fetchone()[0] == 1


def test_consent_counts_as_it_stood_at_the_call(db):
    org = new_org(db)
    before = new_user(db, org, at=T0 - dt.timedelta(minutes=1))
    after = new_user(db, org, at=T0 + dt.timedelta(hours=1))          # granted an hour after the call
    flipped = new_user(db, org, grant=(), refuse=consent.SUMMARY_PURPOSES)
    # The product flips `granted` without a new recorded_at: the grant counts from when it is written
    # (now), not from the old refusal's time, so it does not reach back over the call.
    db.execute("UPDATE consents SET granted = true WHERE user_id = %s", (flipped,))
    late_joiner = new_user(db, org, at=T0 + dt.timedelta(minutes=2))   # granted, then joined
    gone_before = new_user(db, org)
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s AND purpose = 'recording'",
               (T0 - DAY / 2, gone_before))
    gone_after = new_user(db, org)
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s AND purpose = 'recording'",
               (T0 + DAY, gone_after))
    call = new_call(db, org, participants=0)
    people = (before, after, flipped, gone_before, gone_after)
    pids = {u: join(db, call, u, role="host" if u == before else "participant") for u in people}
    pids[late_joiner] = join(db, call, late_joiner, at=T0 + dt.timedelta(minutes=3))

    found = {(g.participant_id, g.purpose): (g.problem, g.state)
             for g in consent.gaps(db, call, consent.SUMMARY_PURPOSES)}
    assert found == {**{(pids[after], p): ("no_record", None) for p in consent.SUMMARY_PURPOSES},
                     **{(pids[flipped], p): ("refused", "refused") for p in consent.SUMMARY_PURPOSES},
                     (pids[gone_before], "recording"): ("withdrawn", "withdrawn"),
                     (pids[gone_after], "recording"): ("stopped", "withdrawn")}
    # Re-dating a grant that is already in force writes no history: it cannot move back over the call.
    db.execute("UPDATE consents SET recorded_at = %s WHERE user_id = %s", (T0 - DAY, after))
    assert {g.problem for g in consent.gaps(db, call, consent.SUMMARY_PURPOSES) if g.participant_id == pids[after]} \
        == {"no_record"}
    reason = consent.transcription_block(db, call)
    assert f"participant {pids[after]}: no recording consent on record at the call" in reason
    assert f"participant {pids[gone_before]}: recording withdrawn at the call (since 2026-11-19 21:00 UTC)" in reason
    assert f"participant {pids[gone_after]}: recording withdrawn after the call (2026-11-21 09:00 UTC)" in reason
    assert f"participant {pids[before]}" not in reason and f"participant {pids[late_joiner]}" not in reason


def test_guests_need_the_hosts_attestation_made_during_the_call(db, speech_dir, offline):
    org = new_org(db)
    host = new_user(db, org)
    _, _, attested = members_call(db, org, host, guests=1, audio=speech_dir / "s0.wav")
    call, _, unattested = members_call(db, org, host, guests=1, attested=False, audio=speech_dir / "s1.wav")
    late, _, attested_late = members_call(db, org, host, guests=2, attested=False, audio=speech_dir / "s2.wav")
    db.execute("UPDATE calls SET guest_consent_attested_at = ended_at + interval '1 hour', "
               "guest_consent_attested_by = initiated_by WHERE id = %s", (late,))
    guest = db.execute("SELECT id FROM call_participants WHERE call_id = %s AND user_id IS NULL", (call,)).fetchone()[0]

    run_job("transcribe_recordings")
    assert recording(db, attested)[0] == "transcribed"
    status, reason, _, billed = recording(db, unattested)
    assert (status, billed) == ("skipped_no_consent", 0)
    assert reason == "no consent: 1 guest without the host's attestation: not transcribed, not billed"
    assert recording(db, attested_late)[:2] == (
        "skipped_no_consent", "no consent: 2 guests without the host's attestation: not transcribed, not billed")
    # The organization's default speaks for its members, never for guests.
    db.execute("UPDATE organizations SET ai_consent_default = 'allow' WHERE id = %s", (org,))
    assert [g.problem for g in consent.gaps(db, call, consent.TRANSCRIPTION_PURPOSES)] == ["guest_unattested"]
    assert consent.gaps(db, call, consent.TRANSCRIPTION_PURPOSES)[0].participant_id == guest


def test_the_organization_default_says_what_no_record_means(db, speech_dir, offline):
    org = new_org(db)
    silent = new_user(db, org, grant=())                    # no consent on record at all
    refuser = new_user(db, org, grant=(), refuse=("transcription",))
    call, (pid,), rec = members_call(db, org, silent, audio=speech_dir / "s0.wav")
    refused_call, (rpid,), _ = members_call(db, org, refuser)
    assert db.execute("SELECT ai_consent_default FROM organizations WHERE id = %s", (org,)).fetchone()[0] == "deny"
    assert {g.problem for g in consent.gaps(db, call, consent.SUMMARY_PURPOSES)} == {"no_record"}

    db.execute("UPDATE organizations SET ai_consent_default = 'allow' WHERE id = %s", (org,))
    assert consent.gaps(db, call, consent.SUMMARY_PURPOSES) == []
    # A refusal is a record: the default does not override it.
    assert [(g.participant_id, g.purpose, g.problem) for g in consent.gaps(db, refused_call, consent.SUMMARY_PURPOSES)] \
        == [(rpid, "transcription", "refused")]
    run_job("transcribe_recordings")
    assert recording(db, rec)[0] == "transcribed"
    assert run_job("summarize_transcripts")["items"]["succeeded"] == 1
    # A refusal after the call stops what is left to do, under 'allow' too.
    db.execute("INSERT INTO consents (user_id, organization_id, purpose, granted, recorded_at) "
               "VALUES (%s, %s, 'ai_processing', false, %s)", (silent, org, T0 + DAY))
    assert [(g.participant_id, g.problem, g.state) for g in consent.gaps(db, call, consent.SUMMARY_PURPOSES)] \
        == [(pid, "stopped", "refused")]


# --- withdrawals -----------------------------------------------------------------------------------

@pytest.fixture
def transcribed_calls(db, offline):
    """Alice and Bob in two calls (the second under a legal hold on the call), Alice alone in a third:
    transcribed and summarised on the night of T0."""
    org = new_org(db)
    alice, bob = new_user(db, org), new_user(db, org)
    calls = {}
    for name, people in (("shared", (alice, bob)), ("held", (alice, bob)), ("alice", (alice,))):
        call, pids, _ = members_call(db, org, *people)
        calls[name] = (call, new_transcription(db, org, f"{name} call. We will send the notes on monday.", call=call))
        if name == "shared":
            bob_pid = pids[1]
    run_job("summarize_transcripts")
    assert db.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == 3
    hold = db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, "
                      "case_reference, placed_by) VALUES (%s, 'resource', 'call', %s, 'Evidence in dispute', 'D-9', "
                      "'legal') RETURNING id", (org, calls["held"][0])).fetchone()[0]
    return {"org": org, "alice": alice, "bob": bob, "bob_pid": bob_pid, "calls": calls, "hold": hold}


def present(db, tid: int) -> tuple[bool, bool]:
    return db.execute("SELECT EXISTS (SELECT 1 FROM transcriptions WHERE id = %(t)s), "
                      "EXISTS (SELECT 1 FROM call_summaries WHERE transcription_id = %(t)s)", {"t": tid}).fetchone()


def test_a_withdrawal_takes_back_transcripts_and_summaries_the_next_night_except_under_a_hold(db, transcribed_calls):
    w = transcribed_calls
    (shared_call, shared), (held_call, held), (_, alone) = w["calls"]["shared"], w["calls"]["held"], w["calls"]["alice"]
    withdrawn_at = dt.datetime(2026, 11, 21, 10, 0, tzinfo=UTC)   # the day after the calls
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s AND purpose = 'transcription'",
               (withdrawn_at, w["bob"]))
    withdrawal = db.execute("SELECT id FROM consent_history WHERE user_id = %s AND state = 'withdrawn'",
                            (w["bob"],)).fetchone()[0]
    shared_summary = db.execute("SELECT id FROM call_summaries WHERE transcription_id = %s", (shared,)).fetchone()[0]

    # The calls' night ends before the withdrawal: nothing is taken back yet.
    first = run_job("enforce_consent_withdrawals", interval=night(T0.date()))
    assert first["withdrawals"] == 0 and present(db, shared) == (True, True)

    result = run_job("enforce_consent_withdrawals", interval=night(withdrawn_at.date()))
    assert result["status"] == "succeeded"
    assert (result["transcripts_removed"], result["summaries_removed"], result["held"]) == (1, 1, 2)
    assert present(db, shared) == (False, False)
    assert present(db, held) == (True, True) and present(db, alone) == (True, True)
    status, reason = db.execute("SELECT r.status, r.skip_reason FROM call_recordings r JOIN calls c ON c.id = r.call_id "
                                "WHERE c.id = %s", (shared_call,)).fetchone()
    assert status == "skipped_no_consent"
    assert reason == (f"no consent: participant {w['bob_pid']} withdrew transcription consent on 2026-11-21 10:00 UTC "
                      f"(withdrawal {withdrawal}): derived data removed, not processed again")
    records = db.execute("SELECT item_type, item_id, outcome, hold_reason, withdrawal_id, job_run_id, night_end "
                         "FROM consent_withdrawal_removals ORDER BY outcome DESC, item_type DESC").fetchall()
    hold_text = f"hold {w['hold']} (resource, case D-9): Evidence in dispute"
    assert [r[:4] for r in records] == [
        ("transcript", shared, "removed", None), ("summary", shared_summary, "removed", None),
        ("transcript", held, "held", hold_text), ("summary", records[3][1], "held", hold_text)]
    assert {r[4] for r in records} == {withdrawal} and {r[5] for r in records} == {result["run_id"]}
    assert {r[6] for r in records} == {night(withdrawn_at.date()).end}
    logged = items(db, result["run_id"], "transcript")
    assert logged[str(shared)] == ("succeeded", (f"removed: participant {w['bob_pid']} withdrew transcription consent "
                                                 f"on 2026-11-21 10:00 UTC (withdrawal {withdrawal})"))
    bob_in_held = db.execute("SELECT id FROM call_participants WHERE call_id = %s AND user_id = %s",
                             (held_call, w["bob"])).fetchone()[0]
    assert logged[str(held)] == ("skipped", (f"kept under legal hold: {hold_text}; participant {bob_in_held} "
                                             f"withdrew transcription consent on 2026-11-21 10:00 UTC "
                                             f"(withdrawal {withdrawal})"))
    assert items(db, result["run_id"], "summary")[str(shared_summary)][0] == "succeeded"

    # Idempotent: the same night again removes nothing more and records the holds once.
    again = run_job("enforce_consent_withdrawals", interval=night(withdrawn_at.date()))
    assert (again["transcripts_removed"], again["summaries_removed"], again["held"]) == (0, 0, 2)
    assert db.execute("SELECT count(*) FROM consent_withdrawal_removals").fetchone()[0] == 4
    # Nothing re-creates what was taken back.
    assert run_job("summarize_transcripts")["items"]["succeeded"] == 0

    # The hold is released: the next night takes the rest back, and says so beside the held record.
    db.execute("UPDATE legal_holds SET released_at = now() WHERE id = %s", (w["hold"],))
    later = run_job("enforce_consent_withdrawals", interval=night(withdrawn_at.date() + DAY))
    assert (later["transcripts_removed"], later["summaries_removed"], later["held"]) == (1, 1, 0)
    assert present(db, held) == (False, False) and present(db, alone) == (True, True)
    assert db.execute("SELECT outcome FROM consent_withdrawal_removals WHERE item_type = 'transcript' AND item_id = %s "
                      "ORDER BY id", (held,)).fetchall() == [("held",), ("removed",)]


def test_an_ai_processing_withdrawal_takes_back_the_summary_only(db, transcribed_calls):
    w = transcribed_calls
    db.execute("UPDATE consents SET granted = false, recorded_at = %s WHERE user_id = %s AND purpose = 'ai_processing'",
               (T0 + DAY, w["alice"]))
    result = run_job("enforce_consent_withdrawals", interval=night(T0.date() + DAY))
    assert (result["transcripts_removed"], result["summaries_removed"], result["held"]) == (0, 2, 1)
    for name in ("shared", "alice"):
        tid = w["calls"][name][1]
        assert present(db, tid) == (True, False)
        assert db.execute("SELECT summary_status FROM transcriptions WHERE id = %s", (tid,)).fetchone()[0] \
            == "skipped_no_consent"
    assert present(db, w["calls"]["held"][1]) == (True, True)
    assert run_job("summarize_transcripts")["items"]["succeeded"] == 0   # not summarised again


def test_a_user_hold_on_another_participant_keeps_the_shared_call(db, transcribed_calls):
    w = transcribed_calls
    db.execute("UPDATE legal_holds SET released_at = now()")
    user_hold = db.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by) "
                           "VALUES (%s, 'user', %s, 'Employment investigation', 'hr') RETURNING id",
                           (w["org"], w["alice"])).fetchone()[0]
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s AND purpose = 'recording'", (T0 + DAY, w["bob"]))
    result = run_job("enforce_consent_withdrawals", interval=night(T0.date() + DAY))
    assert (result["transcripts_removed"], result["summaries_removed"], result["held"]) == (0, 0, 4)
    reasons = {r[0] for r in db.execute("SELECT hold_reason FROM consent_withdrawal_removals").fetchall()}
    assert reasons == {f"hold {user_hold} (user): Employment investigation"}


# --- the history --------------------------------------------------------------------------------

def test_every_write_to_consents_becomes_history_and_exports_read_it(db):
    org = new_org(db)
    user = new_user(db, org, grant=("recording",), at=T0 - DAY)
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s", (T0, user))
    db.execute("UPDATE consents SET withdrawn_at = NULL, recorded_at = %s WHERE user_id = %s", (T0 + DAY, user))
    db.execute("UPDATE consents SET recorded_at = %s WHERE user_id = %s", (T0 + 2 * DAY, user))  # same state: nothing
    db.execute("DELETE FROM consents WHERE user_id = %s", (user,))
    rows = consent.consent_history(db, user)
    assert [(r["purpose"], r["state"], r["source"]) for r in rows] == [
        ("recording", "granted", "insert"), ("recording", "withdrawn", "update"),
        ("recording", "granted", "update"), ("recording", "deleted", "delete")]
    assert [r["valid_from"] for r in rows[:3]] == [T0 - DAY, T0, T0 + DAY]
    assert [r["valid_to"] for r in rows] == [T0, T0 + DAY, rows[3]["valid_from"], None]
    assert rows[3]["valid_from"] > T0 + DAY and all(r["organization_id"] == uuid.UUID(org) for r in rows)
    assert consent.consent_history(db, user, organization_id=new_org(db, "Other")) == []
    with pytest.raises(Exception, match="never rewritten"):
        db.execute("UPDATE consent_history SET state = 'granted'")


def test_the_migration_backfills_the_history_of_existing_consents(fresh_db_url, tmp_path):
    import psycopg
    from auralink.db import migrate as migrate_mod

    folder = tmp_path / "migrations"
    folder.mkdir()
    for m in migrate_mod.available_migrations():
        if m.version < 1450:
            (folder / f"{m.version:04d}_{m.name}.sql").write_text(m.sql)
    migrate_mod.migrate(fresh_db_url, source=folder)
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        org = new_org(conn)
        user = new_user(conn, org, grant=("recording", "transcription"), refuse=("ai_processing",), at=T0 - DAY)
        conn.execute("UPDATE consents SET withdrawn_at = %s WHERE purpose = 'transcription'", (T0,))
    migrate_mod.migrate(fresh_db_url)
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        rows = consent.consent_history(conn, user)
    assert [(r["purpose"], r["state"], r["valid_from"], r["source"]) for r in rows] == [
        ("ai_processing", "refused", T0 - DAY, "backfill"), ("recording", "granted", T0 - DAY, "backfill"),
        ("transcription", "granted", T0 - DAY, "backfill"), ("transcription", "withdrawn", T0, "backfill")]


# --- wiring -------------------------------------------------------------------------------------

def test_enforcement_is_a_nightly_job_after_the_summaries():
    job = registry.get_job("enforce_consent_withdrawals")
    assert job.stage is not None and job.pipelines == ("nightly",) and not job.current_only
    assert graph.upstream_of(job) == ["summarize_transcripts"]
    assert "enforce_consent_withdrawals" not in {j.name for j in graph.jobs_of("recordings")}


def test_the_cli_step_skips_a_call_without_consent(db, speech_dir, capsys):
    from auralink.cli import main

    org = new_org(db)
    _, _, rec = members_call(db, org, new_user(db, org, grant=()), audio=speech_dir / "s0.wav")
    assert main(["recordings", "transcribe", "--recording-id", rec]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "skipped_no_consent" and out["reason"].startswith("no consent: ")
    assert main(["recordings", "transcribe", "--recording-id", rec]) == 0   # an Argo retry: handled already
    again = json.loads(capsys.readouterr().out)
    assert again["skipped"] is True and again["status"] == "skipped_no_consent" and again["reason"] == out["reason"]
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 0


def test_a_hold_on_the_summary_alone_keeps_its_transcript_too(db, transcribed_calls):
    w = transcribed_calls
    db.execute("UPDATE legal_holds SET released_at = now()")
    tid = w["calls"]["shared"][1]
    sid = db.execute("SELECT id FROM call_summaries WHERE transcription_id = %s", (tid,)).fetchone()[0]
    hold = db.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, placed_by) "
                      "VALUES (%s, 'resource', 'summary', %s, 'Quoted in a complaint', 'legal') RETURNING id",
                      (w["org"], str(sid))).fetchone()[0]
    db.execute("UPDATE consents SET withdrawn_at = %s WHERE user_id = %s AND purpose = 'transcription'", (T0 + DAY, w["bob"]))
    result = run_job("enforce_consent_withdrawals", interval=night(T0.date() + DAY))
    assert (result["transcripts_removed"], result["summaries_removed"], result["held"]) == (1, 1, 2)
    assert present(db, tid) == (True, True) and present(db, w["calls"]["held"][1]) == (False, False)
    reasons = dict(db.execute("SELECT item_type, hold_reason FROM consent_withdrawal_removals WHERE outcome = 'held'"))
    assert reasons == {"summary": f"hold {hold} (resource): Quoted in a complaint",
                       "transcript": f"its summary is kept: hold {hold} (resource): Quoted in a complaint"}


def test_the_seed_plants_a_few_consent_gaps(seeded_db):
    """The small seed: most recordings may be processed; each planted exception shows up once or twice."""
    rows = seeded_db.execute(
        "SELECT o.plan, o.ai_consent_default, g.problem, g.purpose, count(DISTINCT r.id) "
        "FROM call_recordings r JOIN organizations o ON o.id = r.organization_id "
        "CROSS JOIN LATERAL call_consent_gaps(r.call_id, %s) g GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4",
        (list(consent.SUMMARY_PURPOSES),)).fetchall()
    assert [r[:4] for r in rows] == [
        ("enterprise", "allow", "refused", "ai_processing"), ("enterprise", "allow", "stopped", "transcription"),
        ("pro", "deny", "guest_unattested", None), ("pro", "deny", "no_record", "ai_processing"),
        ("pro", "deny", "no_record", "recording"), ("pro", "deny", "no_record", "transcription"),
        ("pro", "deny", "refused", "recording")]
    assert all(1 <= r[4] <= 2 for r in rows)
    total, blocked = seeded_db.execute(
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM call_consent_gaps(r.call_id, %s))) "
        "FROM call_recordings r", (list(consent.TRANSCRIPTION_PURPOSES),)).fetchone()
    assert blocked <= total * 0.12
    # An enterprise member with no consent on record is processed: the organization's default covers them.
    silent = seeded_db.execute(
        "SELECT count(*) FROM organization_members m JOIN organizations o ON o.id = m.organization_id "
        "WHERE o.plan = 'enterprise' AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.user_id = m.user_id "
        "AND c.purpose = 'transcription')").fetchone()[0]
    assert silent == 1
    history = dict(seeded_db.execute("SELECT state, count(*) FROM consent_history GROUP BY 1").fetchall())
    assert history["withdrawn"] == 1 and history["granted"] > 500
