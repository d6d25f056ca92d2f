"""`auralink billing ingest|invoice|costs`."""

from __future__ import annotations

import json

from auralink.cli import main


def test_ingest_then_invoice(billing, db, tmp_path, capsys):
    org = billing.org("pro")
    lines = [{"organization_id": str(org), "metric": "call_minutes", "quantity": 10500,
              "recorded_at": "2026-10-03T10:00:00+00:00", "idempotency_key": "cli-1"},
             {"organization_id": str(org), "metric": "nope", "quantity": 1,
              "recorded_at": "2026-10-03T10:00:00+00:00", "idempotency_key": "cli-2"}]
    f = tmp_path / "usage.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["billing", "ingest", str(f)]) == 1            # one rejected record: exit 1, the other kept
    out = json.loads(capsys.readouterr().out)
    assert out["inserted"] == 1 and out["rejected"][0]["line"] == 2
    assert main(["billing", "ingest", str(f)]) == 1
    assert json.loads(capsys.readouterr().out)["duplicates"] == 1
    assert main(["billing", "invoice", "--org", str(org), "--month", "2026-10"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_usd"] == "51.00" and doc["status"] == "finalized" and doc["invoice_number"] == 1
    assert main(["billing", "costs", "--org", str(org), "--month", "2026-10"]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == "51.00"
    assert main(["billing", "invoice", "--org", str(org), "--month", "2026-13"]) == 2
    assert "not a month" in capsys.readouterr().err


def test_cli_errors_are_one_line(db, capsys):
    assert main(["billing", "invoice", "--org", "not-a-uuid", "--month", "2026-10"]) == 2
    assert "--org must be an organization id" in capsys.readouterr().err
    ghost = "00000000-0000-0000-0000-000000000001"
    assert main(["billing", "invoice", "--org", ghost, "--month", "2026-10"]) == 1
    assert "unknown organization" in capsys.readouterr().err
    assert main(["billing", "costs", "--org", ghost, "--month", "2026-10"]) == 1
    assert "unknown organization" in capsys.readouterr().err
