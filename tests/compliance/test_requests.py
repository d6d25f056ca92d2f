"""GDPR requests: every export format opens and holds the subject's data; bad requests end as clear
errors on their rows while the batch goes on."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

from auralink.compliance import requests
from auralink.jobs import run_job
from pypdf import PdfReader

UTC = dt.UTC


def _request_row(db, rid):
    cur = db.execute("SELECT * FROM compliance_requests WHERE id = %s", (rid,))
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def _export(db, world, fmt):
    rid = requests.submit_request(db, organization_id=world.org, request_type="export", export_format=fmt,
                                  subject_email=world.alice_email.upper(), requested_by="dpo@wonder")
    result = run_job("process_compliance_requests", {"request_id": str(rid)})
    assert result["completed"] == 1, result
    row = _request_row(db, rid)
    assert row["status"] == "completed" and row["completed_at"] and row["error"] is None
    data = Path(row["result_location"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row["result_checksum"]
    return data


def test_json_export_has_everything_and_a_manifest(world, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "exports"))
    db.execute("SELECT archive_old_audit_logs(interval '150 days')")  # May/June events now in audit_logs_archive
    doc = json.loads(_export(db, world, "json"))
    data, manifest = doc["data"], doc["manifest"]
    assert data["profile"][0]["email"] == world.alice_email and data["profile"][0]["phone"] == world.alice_phone
    assert len(data["calls_joined"]) == 5 and len(data["recordings"]) == 5 and len(data["transcripts"]) == 5
    assert len(data["summaries"]) == 4 and len(data["ai_usage"]) == 4 and len(data["consents"]) == 1
    assert data["roles"][0]["role"] == "org_admin" and data["access_policies"][0]["v1"] == "org_admin"
    assert len(data["audit_events"]) == 30 and {"by subject"} <= {e["relation"] for e in data["audit_events"]}
    assert data["memberships"][0]["organization"] == "Wonder Ltd"
    # Her consent history: the recording consent granted (the world's one consent), still in force.
    assert [(h["purpose"], h["state"], h["valid_to"]) for h in data["consent_history"]] == [("recording", "granted", None)]
    assert {s["name"] for s in manifest["sections"]} == set(data)
    assert manifest["total_rows"] == sum(len(v) for v in data.values())
    assert str(tmp_path / "exports") in _request_row(db, db.execute(
        "SELECT id FROM compliance_requests").fetchone()[0])["result_location"]


def test_csv_export_is_a_zip_with_a_file_per_section(world, db):
    zf = zipfile.ZipFile(io.BytesIO(_export(db, world, "csv")))
    names = set(zf.namelist())
    assert {"profile.csv", "calls_joined.csv", "transcripts.csv", "audit_events.csv", "manifest.json"} <= names
    manifest = json.loads(zf.read("manifest.json"))
    for name, meta in manifest["files"].items():
        payload = zf.read(name)
        assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
        rows = list(csv.DictReader(io.StringIO(payload.decode())))
        assert len(rows) == meta["rows"]
    profile = list(csv.DictReader(io.StringIO(zf.read("profile.csv").decode())))
    assert profile[0]["full_name"] == world.alice_name


def test_pdf_export_is_readable_with_a_table_of_contents(world, db):
    reader = PdfReader(io.BytesIO(_export(db, world, "pdf")))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Table of contents" in text
    assert world.alice_email in text and world.alice_name in text
    for chapter in ("Profile", "Calls joined", "Transcripts", "Audit events", "Manifest"):
        assert chapter in text
    assert len(reader.pages) >= 3


def test_bad_requests_end_as_clear_errors_and_the_batch_goes_on(world, db):
    good = requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.bob,
                                   received_at=dt.datetime(2026, 11, 1, tzinfo=UTC))
    dup = requests.submit_request(db, organization_id=world.org, request_type="export", subject_email="BOB.builder@example.com",
                                  received_at=dt.datetime(2026, 11, 2, tzinfo=UTC))
    unknown = requests.submit_request(db, organization_id=world.org, request_type="export",
                                      subject_email="nobody@example.com")
    xml = requests.submit_request(db, organization_id=world.org, request_type="export", export_format="xml",
                                  subject_user_id=world.alice)
    outsider = requests.submit_request(db, organization_id=world.other_org, request_type="deletion",
                                       subject_user_id=world.alice)
    bad_scope = requests.submit_request(db, organization_id=world.org, request_type="deletion",
                                        subject_user_id=world.alice, scope={"categories": ["everything"]})
    result = run_job("process_compliance_requests", {})
    assert result["status"] == "partial" and result["completed"] == 1 and result["rejected"] == 5
    assert _request_row(db, good)["status"] == "completed"
    expect = {dup: f"duplicate request: request {good}", unknown: "unknown data subject: no user with e-mail 'nobody@example.com'",
              xml: "unsupported export format 'xml' (supported: json, csv, pdf)",
              outsider: "not a member of organization", bad_scope: "unknown erasure scope categories: everything"}
    for rid, message in expect.items():
        row = _request_row(db, rid)
        assert row["status"] == "rejected" and message in row["error"], row
        assert row["completed_at"] is not None
    # The bad scope was rejected before anything was erased.
    assert db.execute("SELECT erased_at FROM users WHERE id = %s", (world.alice,)).fetchone()[0] is None
    # A new request after the first one completed is not a duplicate.
    again = requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.bob)
    assert run_job("process_compliance_requests", {})["completed"] == 1
    assert _request_row(db, again)["status"] == "completed"


def test_rectification(world, db):
    rid = requests.submit_request(db, organization_id=world.org, request_type="rectification", subject_user_id=world.bob,
                                  scope={"changes": {"full_name": "Robert Builder"}})
    bad = requests.submit_request(db, organization_id=world.org, request_type="rectification", subject_user_id=world.alice,
                                  scope={"changes": {"is_active": False}})
    run_job("process_compliance_requests", {})
    assert _request_row(db, rid)["status"] == "completed"
    assert db.execute("SELECT full_name FROM users WHERE id = %s", (world.bob,)).fetchone()[0] == "Robert Builder"
    assert "cannot rectify is_active" in _request_row(db, bad)["error"]
