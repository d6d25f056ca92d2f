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
