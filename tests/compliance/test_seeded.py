"""The compliance jobs against the project's seed (every table filled, holds and requests included)."""

from __future__ import annotations

from auralink.jobs import nightly_jobs, run_job


def test_stage_60_jobs_run_on_the_seed(seeded_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "exports"))
    names = [j.name for j in nightly_jobs() if j.stage == 60]  # in the night's order
    assert sorted(names) == ["apply_retention_policies", "archive_audit_logs", "flag_overdue_compliance_requests",
                             "process_compliance_requests"]
    for name in names:  # the current night: the requests are processed, the overdue ones flagged
        result = run_job(name, {})
        assert result["status"] in ("succeeded", "partial"), (name, result)
    statuses = dict(seeded_db.execute("SELECT status, count(*) FROM compliance_requests GROUP BY 1").fetchall())
    assert "pending" not in statuses and statuses.get("completed", 0) > 0, statuses
    # Every request that did not complete says why.
    assert seeded_db.execute("SELECT count(*) FROM compliance_requests WHERE status IN ('rejected', 'failed')"
                             " AND (error IS NULL OR error = '')").fetchone()[0] == 0
    assert seeded_db.execute("SELECT count(*) FROM compliance_requests WHERE status = 'failed'").fetchone()[0] == 0
    assert seeded_db.execute("SELECT count(*) FROM retention_runs WHERE status = 'succeeded'").fetchone()[0] > 0
    for (org,) in seeded_db.execute("SELECT id FROM organizations").fetchall():
        out = run_job("compliance_report", {"organization_id": str(org), "standard": "HIPAA"})
        assert out["status"] == "succeeded" and set(out["files"]) == {"json", "pdf"}
