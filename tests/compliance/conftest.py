"""Fixtures for the compliance tests: a small, explicit world built with plain INSERTs, so every
identifier a test looks for is known (the seed generator's data is used where a test says so)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

UTC = dt.UTC


@dataclass
class World:
    url: str
    org: uuid.UUID
    other_org: uuid.UUID
    alice: uuid.UUID       # the data subject of most tests
    bob: uuid.UUID
    alice_email: str = "alice.liddell@example.com"
    alice_name: str = "Alice Liddell"
    alice_phone: str = "+44 20 7946 0958"
    calls: list[uuid.UUID] = field(default_factory=list)
    recordings: list[uuid.UUID] = field(default_factory=list)
    audio_files: list[Path] = field(default_factory=list)
    solo_call: uuid.UUID | None = None
    solo_recording: uuid.UUID | None = None
    solo_audio: Path | None = None


def _uuid(n: int) -> uuid.UUID:
    return uuid.UUID(int=0x5EED0000_0000_4000_8000_000000000000 + n)


def build_world(url: str, tmp: Path, *, audit_months: tuple[str, ...] = ("2026-05", "2026-06", "2026-11"),
                audit_rows_per_month: int = 30) -> World:
    w = World(url=url, org=_uuid(1), other_org=_uuid(2), alice=_uuid(10), bob=_uuid(11))
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s,'Wonder Ltd','wonder','enterprise'),"
                  " (%s,'Other Co','other-co','pro')", (w.org, w.other_org))
        c.execute("INSERT INTO users (id, email, full_name, phone, country) VALUES (%s,%s,%s,%s,'GB'),"
                  " (%s,'bob.builder@example.com','Bob Builder','+1 555 0100','US')",
                  (w.alice, w.alice_email, w.alice_name, w.alice_phone, w.bob))
        for u, role in ((w.alice, "admin"), (w.bob, "member")):
            c.execute("INSERT INTO organization_members (organization_id, user_id, member_role) VALUES (%s,%s,%s)",
                      (w.org, u, role))
            c.execute("INSERT INTO consents (user_id, organization_id, purpose, granted) VALUES (%s,%s,'recording',true)",
                      (u, w.org))
        c.execute("INSERT INTO organization_members (organization_id, user_id) VALUES (%s,%s)", (w.other_org, w.bob))
        base = dt.datetime(2026, 11, 10, 9, tzinfo=UTC)
        audio_dir = tmp / "recordings"
        audio_dir.mkdir(parents=True, exist_ok=True)
        for i in range(4):
            call = _uuid(100 + i)
            initiator = w.alice if i % 2 == 0 else w.bob
            start = base + dt.timedelta(days=i)
            c.execute("INSERT INTO calls (id, organization_id, initiated_by, started_at, ended_at, duration_seconds)"
                      " VALUES (%s,%s,%s,%s,%s,600)", (call, w.org, initiator, start, start + dt.timedelta(minutes=10)))
            for u, name in ((w.alice, w.alice_name), (w.bob, "Bob Builder")):
                c.execute("INSERT INTO call_participants (call_id, user_id, display_name, joined_at, ip_address, country)"
                          " VALUES (%s,%s,%s,%s,'10.0.0.1','GB')", (call, u, name, start))
            rec = _uuid(200 + i)
            audio = audio_dir / f"{rec}.wav"
            audio.write_bytes(b"RIFF0000WAVEfmt fake audio")
            c.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status, created_at)"
                      " VALUES (%s,%s,%s,%s,'transcribed',%s)", (rec, call, w.org, audio.as_uri(), start))
            tid = c.execute(
                "INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text, redacted_text,"
                " segments, created_at) VALUES (%s,%s,%s,'whisper','tiny',%s,%s,%s,%s) RETURNING id",
                (rec, call, w.org, f"Hi, this is {w.alice_name}, call me on {w.alice_phone} or {w.alice_email}.",
                 "Hi, this is [NAME], call me on [PHONE].",
                 Jsonb([{"speaker": w.alice_name, "user_id": str(w.alice), "text": "hello"}]), start)).fetchone()[0]
            c.execute("INSERT INTO call_summaries (transcription_id, call_id, organization_id, summary, action_items,"
                      " provider, model, created_at) VALUES (%s,%s,%s,%s,%s,'openai','gpt',%s)",
                      (tid, call, w.org, f"{w.alice_name} agreed to send the contract.",
                       Jsonb([{"owner": w.alice_email, "task": "send contract"}]), start))
            c.execute("INSERT INTO ai_usage (organization_id, user_id, call_id, feature, provider, model, unit_type,"
                      " units, cost_usd, occurred_at, metadata) VALUES (%s,%s,%s,'llm','openai','gpt','requests',1,0.01,%s,%s)",
                      (w.org, w.alice, call, start, Jsonb({"requested_by": w.alice_email})))
            w.calls.append(call)
            w.recordings.append(rec)
            w.audio_files.append(audio)
        # A solo call: alice dictating a note. Its audio and transcript are hers alone, so erasure deletes them.
        solo, solo_rec = _uuid(150), _uuid(250)
        c.execute("INSERT INTO calls (id, organization_id, initiated_by, started_at) VALUES (%s,%s,%s,%s)",
                  (solo, w.org, w.alice, base))
        c.execute("INSERT INTO call_participants (call_id, user_id, display_name, joined_at) VALUES (%s,%s,%s,%s)",
                  (solo, w.alice, w.alice_name, base))
        solo_audio = audio_dir / f"{solo_rec}.wav"
        solo_audio.write_bytes(b"RIFF0000WAVEfmt solo")
        c.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status, created_at)"
                  " VALUES (%s,%s,%s,%s,'transcribed',%s)", (solo_rec, solo, w.org, solo_audio.as_uri(), base))
        c.execute("INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text)"
                  " VALUES (%s,%s,%s,'whisper','tiny',%s)", (solo_rec, solo, w.org, f"Note to self from {w.alice_name}"))
        w.solo_call, w.solo_recording, w.solo_audio = solo, solo_rec, solo_audio
        c.execute("SELECT ensure_monthly_partitions('usage_records', '2026-01-01', '2026-12-01')")
        c.execute("INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at, idempotency_key)"
                  " VALUES (%s,%s,'call_minutes',10,%s,'u1'), (%s,%s,'call_minutes',5,%s,'u2')",
                  (w.org, w.alice, base, w.org, w.bob, base))
        c.execute("INSERT INTO invoices (organization_id, invoice_number, period_start, period_end, total_usd, billing_email)"
                  " VALUES (%s,1,'2026-10-01','2026-11-01',499,%s)", (w.org, w.alice_email))
        c.execute("INSERT INTO api_keys (organization_id, created_by, name, key_prefix, secret_encrypted)"
                  " VALUES (%s,%s,%s,'ak_1',%s)", (w.org, w.alice, f"{w.alice_name}'s laptop", b"\x01secret"))
        c.execute("INSERT INTO security_events (organization_id, user_id, rule, severity, description, evidence,"
                  " dedup_key, first_seen_at, last_seen_at) VALUES (%s,%s,'failed_login_burst','high',%s,%s,%s,%s,%s)",
                  (w.org, w.alice, f"12 failed logins for {w.alice_email}", Jsonb({"user_id": str(w.alice), "email": w.alice_email}),
                   f"failed_login_burst:{w.alice}:2026-11-10", base, base))
        role_id = c.execute("INSERT INTO rbac_roles (organization_id, name, permissions) VALUES (%s,'org_admin',%s) RETURNING id",
                            (w.org, Jsonb(["recordings:read", "users:manage"]))).fetchone()[0]
        c.execute("INSERT INTO user_role_assignments (user_id, organization_id, role_id) VALUES (%s,%s,%s)", (w.alice, w.org, role_id))
        c.execute("INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('p','org_admin','recordings','read'),"
                  " ('p','org_admin','users','manage'), ('p','member','recordings','read'),"
                  " ('g',%s,'org_admin',NULL), ('g',%s,'member',NULL)", (str(w.alice), str(w.bob)))
        # Audit events by and about alice and bob, in old (archivable) and recent months.
        c.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-12-01')")
        for month in audit_months:
            y, m = map(int, month.split("-"))
            for i in range(audit_rows_per_month):
                actor, email = (w.alice, w.alice_email) if i % 3 == 0 else (w.bob, "bob.builder@example.com")
                c.execute(
                    "INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type,"
                    " resource_id, ip_address, user_agent, request_metadata, occurred_at)"
                    " VALUES (%s,%s,%s,%s,'user',%s,'192.0.2.7','Mozilla/5.0',%s,%s)",
                    (w.org if i % 5 else w.other_org, actor, email, "user.login" if i % 2 else "recording.view",
                     str(actor), Jsonb({"note": f"session of {email}", "i": i}),
                     dt.datetime(y, m, 1 + i % 27, 1 + i % 20, i % 60, tzinfo=UTC)))
    return w


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> World:
    return build_world(db_url, tmp_path)


@pytest.fixture
def ctx(db_url: str):
    """A job context recording into job_runs like run_job does."""
    from auralink.jobs import JobContext

    with psycopg.connect(db_url, autocommit=True) as c:
        run_id = c.execute("INSERT INTO job_runs (job_name) VALUES ('test') RETURNING id").fetchone()[0]
    return JobContext(url=db_url, job_name="test", run_id=run_id)


def skipped_items(url: str, run_id: int | None = None) -> list[tuple[str, str, str]]:
    with psycopg.connect(url, autocommit=True) as c:
        sql = "SELECT item_type, item_id, reason FROM job_run_items WHERE outcome = 'skipped'"
        if run_id is not None:
            return c.execute(sql + " AND job_run_id = %s ORDER BY id", (run_id,)).fetchall()
        return c.execute(sql + " ORDER BY id").fetchall()


# -- a world where the subject is everywhere a real one would be --------------------------------------------

ALICE_IP = "118.69.1.2"   # where she signed in from abroad: hers alone (the office's 192.0.2.7 is shared)


@dataclass
class RichWorld:
    w: World
    carol: uuid.UUID
    third_party_call: uuid.UUID
    third_party_transcript: int
    report_id: uuid.UUID
    home: Path
    exports: dict[str, uuid.UUID] = field(default_factory=dict)   # format -> alice's export request
    bob_export: uuid.UUID | None = None

    def identifiers(self) -> list[str]:
        return [str(self.w.alice), self.w.alice_email, self.w.alice_name, self.w.alice_phone]


def enrich_world(w: World, home: Path) -> RichWorld:
    """Beside build_world: a colleague's call that names alice, quality samples and metered minutes, security
    events with her foreign IP, an admin's audit event and a job item about her, a custom report, Data Docs
    and a compliance report that show her, and her exports (asked for by e-mail) and one of bob's."""
    from auralink.compliance import requests
    from auralink.jobs import run_job

    carol = _uuid(12)
    with psycopg.connect(w.url, autocommit=True) as c:
        c.execute("INSERT INTO users (id, email, full_name, phone) VALUES (%s, 'carol.danvers@example.com',"
                  " 'Carol Danvers', '+1 555 0199')", (carol,))
        c.execute("INSERT INTO organization_members (organization_id, user_id) VALUES (%s, %s)", (w.org, carol))
        # A call between bob and carol in which they talk about alice: their record, her mention.
        call, rec = _uuid(160), _uuid(260)
        start = dt.datetime(2026, 11, 14, 10, tzinfo=UTC)
        c.execute("INSERT INTO calls (id, organization_id, initiated_by, started_at, ended_at, duration_seconds)"
                  " VALUES (%s,%s,%s,%s,%s,300)", (call, w.org, carol, start, start + dt.timedelta(minutes=5)))
        for u, name in ((carol, "Carol Danvers"), (w.bob, "Bob Builder")):
            c.execute("INSERT INTO call_participants (call_id, user_id, display_name, joined_at, ip_address)"
                      " VALUES (%s,%s,%s,%s,'192.0.2.7')", (call, u, name, start))
        audio = home / "recordings" / f"{rec}.wav"
        audio.parent.mkdir(parents=True, exist_ok=True)
        audio.write_bytes(b"RIFF0000WAVEfmt third party")
        c.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status, created_at)"
                  " VALUES (%s,%s,%s,%s,'transcribed',%s)", (rec, call, w.org, audio.as_uri(), start))
        tid = c.execute(
            "INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text, redacted_text,"
            " segments, created_at) VALUES (%s,%s,%s,'whisper','tiny',%s,%s,%s,%s) RETURNING id",
            (rec, call, w.org, (f"Carol: I spoke with {w.alice_name} yesterday, her number is {w.alice_phone}"
             f" and her mail {w.alice_email}. Bob: fine."), "Carol: I spoke with [NAME] yesterday.",
             Jsonb([{"speaker": "Carol Danvers", "text": f"I spoke with {w.alice_name}"}]), start)).fetchone()[0]
        c.execute("INSERT INTO call_summaries (transcription_id, call_id, organization_id, summary, action_items,"
                  " provider, model, created_at) VALUES (%s,%s,%s,%s,%s,'tfidf','tfidf',%s)",
                  (tid, call, w.org, f"Follow up with {w.alice_name}.",
                   Jsonb([{"owner": "Bob Builder", "task": f"write to {w.alice_email}"}]), start))
        # Quality telemetry and per-minute metering of alice's shared calls (what dbt aggregates).
        parts = c.execute("SELECT p.id, p.call_id, p.user_id, c.started_at FROM call_participants p"
                          " JOIN calls c ON c.id = p.call_id WHERE p.call_id = ANY(%s)", (w.calls + [call],)).fetchall()
        for pid, call_id, user, started in parts:
            for k in range(3):
                c.execute("INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms,"
                          " packet_loss, codec) VALUES (%s,%s,%s,80,5,0.001,'opus')",
                          (call_id, pid, started + dt.timedelta(minutes=k)))
            c.execute("INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at,"
                      " idempotency_key) VALUES (%s,%s,'call_minutes',5,%s,%s)", (w.org, user, started, f"cm:{pid}"))
        # Security: she signed in from abroad (her own IP); bob raised her role (an event about her, his row).
        c.execute("INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type,"
                  " ip_address, user_agent, country, occurred_at) VALUES (%s,%s,%s,'auth.login','session',%s,"
                  " 'Mozilla/5.0 (Alice laptop)','VN','2026-11-15 08:00+00')", (w.org, w.alice, w.alice_email, ALICE_IP))
        c.execute("INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type,"
                  " resource_id, ip_address, new_values, occurred_at) VALUES (%s,%s,'bob.builder@example.com',"
                  " 'member.invited','invitation','inv-1','192.0.2.7',%s,'2026-11-15 09:00+00')",
                  (w.org, w.bob, Jsonb({"email": w.alice_email, "full_name": w.alice_name})))
        c.execute("INSERT INTO security_events (organization_id, user_id, rule, severity, source_ip, description,"
                  " evidence, dedup_key, first_seen_at, last_seen_at) VALUES (%s,%s,'admin_new_location','high',%s,"
                  " %s,%s,%s,'2026-11-15 08:00+00','2026-11-15 08:00+00')",
                  (w.org, w.alice, ALICE_IP, f"admin {w.alice_email} signed in from a new country VN ({ALICE_IP})",
                   Jsonb({"ip": ALICE_IP, "country": "VN", "known_ips": ["192.0.2.7"]}),
                   f"admin_new_location:country:{w.alice}:VN"))
        c.execute("INSERT INTO security_events (organization_id, user_id, rule, severity, description, evidence,"
                  " dedup_key, first_seen_at, last_seen_at) VALUES (%s,%s,'privilege_escalation','high',%s,%s,"
                  " 'privilege_escalation:77','2026-11-15 09:00+00','2026-11-15 09:00+00')",
                  (w.org, w.bob, f"bob.builder@example.com changed the role of user {w.alice} from member to admin",
                   Jsonb({"target_user_id": str(w.alice), "new_role": "admin"})))
        run = c.execute("INSERT INTO job_runs (job_name, status) VALUES ('process_compliance_requests', 'succeeded')"
                        " RETURNING id").fetchone()[0]
        c.execute("INSERT INTO job_run_items (job_run_id, item_type, item_id, outcome, reason) VALUES"
                  " (%s, 'compliance_request', 'x', 'failed', %s)",
                  (run, f"rejected: unknown data subject: no user with e-mail '{w.alice_email}'"))
        # A custom report of bob's named after her, generated once (json, csv, pdf).
        report_id = _uuid(300)
        definition = {"title": f"Calls with {w.alice_name}", "metrics": [{"column": "calls", "agg": "sum"}],
                      "dimensions": ["day"], "filters": [], "date_range": {"last_days": 30}, "chart": {"type": "bar"}}
        c.execute("INSERT INTO custom_reports (id, organization_id, name, definition, schedule_cron, formats, created_by)"
                  " VALUES (%s,%s,%s,%s,'0 6 * * 1',ARRAY['csv','json','pdf'],%s)",
                  (report_id, w.org, f"{w.alice_name} weekly", Jsonb(definition), w.bob))
        # Data Docs of a quality-gate run whose sample showed her e-mail.
        c.execute("INSERT INTO data_quality_results (table_name, expectation, column_name, blocking, success,"
                  " observed, phase, description, ge_run_name) VALUES ('audit_logs', 'expect_column_values_to_match',"
                  " 'actor_email', false, false, %s, 'source', 'audit_logs - actor_email', 'source-erasuretest')",
                  (Jsonb({"partial_unexpected_list": [w.alice_email]}),))
    from auralink.reports.runner import generate_report

    with psycopg.connect(w.url, autocommit=True) as c:
        rep = {"id": report_id, "organization_id": w.org, "name": f"{w.alice_name} weekly", "definition": definition,
               "formats": ["csv", "json", "pdf"], "timezone": "UTC", "organization_name": "Wonder Ltd"}
        tick = dt.datetime(2026, 11, 16, 6, tzinfo=UTC)
        outputs, rows = generate_report(c, rep, tick)
        c.execute("INSERT INTO report_runs (report_id, scheduled_for, status, row_count, outputs) VALUES"
                  " (%s,%s,'succeeded',%s,%s)", (report_id, tick, rows, Jsonb(outputs)))
    gx = home / "great_expectations"
    for sub, name, text in (("validations", "result.json", f'{{"partial_unexpected_list": ["{w.alice_email}"]}}'),
                            ("data_docs/validations", "result.html", f"<td>{w.alice_email}</td>")):
        folder = gx / sub / "source" / "audit_logs" / "source-erasuretest" / "20261115T000000Z"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    run_job("compliance_report", {"organization_id": str(w.org), "standard": "GDPR"}, url=w.url)
    rich = RichWorld(w, carol, call, tid, report_id, home)
    with psycopg.connect(w.url, autocommit=True) as c:
        for fmt in ("json", "csv", "pdf"):   # asked for by e-mail, as the CLI's --email does
            rich.exports[fmt] = requests.submit_request(c, organization_id=w.org, request_type="export",
                                                        subject_email=w.alice_email, export_format=fmt)
            run_job("process_compliance_requests", {"request_id": str(rich.exports[fmt])}, url=w.url)
        rich.bob_export = requests.submit_request(c, organization_id=w.org, request_type="export",
                                                  subject_user_id=w.bob)
        run_job("process_compliance_requests", {"request_id": str(rich.bob_export)}, url=w.url)
    return rich


@pytest.fixture
def rich_world(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RichWorld:
    home = tmp_path / "home"
    monkeypatch.setenv("AURALINK_HOME", str(home))
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(home / "exports"))
    monkeypatch.setenv("AURALINK_REPORTS_URL", str(home / "reports"))
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(home / "archives"))
    monkeypatch.setenv("AURALINK_GX_DIR", str(home / "great_expectations"))
    return enrich_world(build_world(db_url, home), home)


def erase_by_email(url: str, world: World, **kw) -> tuple[uuid.UUID, dict, tuple]:
    """Submit an erasure by e-mail (the default full scope) and process it; (request id, job result, row)."""
    from auralink.compliance import requests
    from auralink.jobs import run_job

    with psycopg.connect(url, autocommit=True) as c:
        rid = requests.submit_request(c, organization_id=world.org, request_type="deletion",
                                      subject_email=world.alice_email, requested_by=world.alice_email, **kw)
        result = run_job("process_compliance_requests", {"request_id": str(rid)}, url=url)
        row = c.execute("SELECT status, error, result_location, result_checksum FROM compliance_requests WHERE id = %s",
                        (rid,)).fetchone()
    return rid, result, row


def proof_of(location: str) -> dict:
    import json

    return json.loads(Path(location).read_text())["proof_of_erasure"]
