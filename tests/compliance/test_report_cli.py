"""Compliance reports (JSON and PDF, casbin access review) and the `auralink compliance` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from auralink.cli import main
from auralink.compliance import report, requests
from pypdf import PdfReader


def test_access_review_evaluates_casbin_rules(world, db):
    review = report.access_review(db, world.org)
    by_user = {u["email"]: u for u in review["users"]}
    alice, bob = by_user[world.alice_email], by_user["bob.builder@example.com"]
    assert alice["casbin_roles"] == ["org_admin"] and alice["allowed"] == ["recordings:read", "users:manage"]
    assert alice["privileged"] and alice["assigned_roles"] == ["org_admin"]
    assert bob["allowed"] == ["recordings:read"] and not bob["privileged"]
    assert {r["role"] for r in review["roles"]} == {"org_admin", "member"}
    assert review["findings"] == []
    db.execute("UPDATE users SET is_active = false WHERE id = %s", (world.bob,))
    findings = report.access_review(db, world.org)["findings"]
    assert [f["user_id"] for f in findings] == [str(world.bob)]


@pytest.mark.parametrize("standard", report.STANDARDS)
def test_report_json_and_pdf(standard, world, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "out"))
    requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.bob)
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s,'organization','Audit hold','legal')",
               (world.org,))
    out = report.write_report(db, world.org, standard, ["json", "pdf"], period_days=3650)
    doc = json.loads(Path(out["files"]["json"]["location"]).read_text())
    assert doc["standard"] == standard and doc["organization"]["name"] == "Wonder Ltd"
    assert {c["status"] for c in doc["controls"]} <= {"pass", "attention"}
    assert doc["requests"][0]["requests"] == 1 and doc["legal_holds"][0]["reason"] == "Audit hold"
    assert doc["security_events"][0]["severity"] == "high"
    text = "\n".join(p.extract_text() for p in PdfReader(out["files"]["pdf"]["location"]).pages)
    assert "Table of contents" in text and f"{standard} compliance report" in text and "Access review users" in text
    with pytest.raises(ValueError, match="unsupported standard"):
        report.build_report(db, world.org, "PCI")


def test_cli_submit_export_extend_report(world, db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "out"))
    assert main(["compliance", "submit", "--org", str(world.org), "--type", "export", "--email", world.alice_email,
                 "--format", "pdf"]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert main(["compliance", "extend", "--request-id", rid, "--reason", "Large volume of recordings"]) == 0
    assert main(["compliance", "erase", "--request-id", rid]) == 1  # wrong type: clear error, nothing done
    assert "has type export, not deletion" in capsys.readouterr().err
    assert main(["compliance", "export", "--request-id", rid]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["status"] == "completed" and outcome["extended_due_at"]
    assert PdfReader(outcome["result_location"]).pages
    assert main(["compliance", "report", "--org", str(world.org), "--standard", "SOC2", "--format", "pdf"]) == 0
    files = json.loads(capsys.readouterr().out)
    assert files["pdf"]["location"].endswith(".pdf")
    assert main(["compliance", "report", "--org", str(world.org), "--format", "xml"]) == 2
    assert "unsupported report format xml" in capsys.readouterr().err
