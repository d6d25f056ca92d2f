"""The `auralink` command: one-line errors with non-zero exits for expected failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from auralink.cli import main


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auralink.cli", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_migrate_status_and_jobs(db_url, capsys):
    assert main(["db", "migrate"]) == 0
    assert "schema is up to date" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    assert "pending:  none" in capsys.readouterr().out
    assert main(["jobs", "list"]) == 0
    assert "ensure_partitions" in capsys.readouterr().out
    # migrate made this month and three ahead; five ahead adds at least two months to each table
    assert main(["jobs", "run", "ensure_partitions", "-p", "months_ahead=5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "succeeded" and result["partitions_created"] >= 4


def test_job_runs_are_recorded(db_url, db):
    from auralink.jobs import run_job

    result = run_job("ensure_partitions", {"months_ahead": "1"})
    row = db.execute("SELECT job_name, status, params->>'months_ahead', stats->>'partitions_created' FROM job_runs WHERE id = %s",
                     (result["run_id"],)).fetchone()
    assert row == ("ensure_partitions", "succeeded", "1", str(result["partitions_created"]))


def test_unknown_job_exits_2_without_traceback(db_url):
    out = run_cli("jobs", "run", "no_such_job")
    assert out.returncode == 2
    assert "unknown job 'no_such_job'" in out.stderr and "Traceback" not in out.stderr


def test_bad_parameter_exits_2(db_url):
    out = run_cli("jobs", "run", "ensure_partitions", "-p", "months_ahead=many")
    assert out.returncode == 2 and "parameter months_ahead='many': Input should be a valid integer" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli("jobs", "run", "analyze_call_quality", "-p", "batch_size=0")  # bounds come from the schema
    assert out.returncode == 2 and "batch_size='0': Input should be greater than or equal to 1" in out.stderr
    out = run_cli("jobs", "run", "generate_invoices", "-p", "org=not-a-uuid")
    assert out.returncode == 2 and "org='not-a-uuid'" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("jobs", "run", "ensure_partitions", "-p", "nope=1")
    assert out.returncode == 2 and "has no parameter nope" in out.stderr


def test_unreachable_database_exits_1_and_hides_password():
    out = run_cli("db", "status", env={"DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/x"})
    assert out.returncode == 1
    assert "cannot connect" in out.stderr and "hunter2" not in out.stderr and "Traceback" not in out.stderr


def test_bad_arguments_exit_2():
    out = run_cli("seed", "--orgs", "many")
    assert out.returncode == 2 and "invalid int value" in out.stderr


def test_seed_command_prints_counts(db_url):
    out = run_cli("seed", "--orgs", "2", "--days", "2", "--seed", "3", "--end-date", "2026-11-20", "--quiet", "--no-audio")
    assert out.returncode == 0, out.stderr
    assert "usage_records" in out.stdout and "organizations" in out.stdout
    again = run_cli("seed", "--orgs", "2", "--days", "2", "--quiet", "--no-audio")
    assert again.returncode == 1 and "already has organizations" in again.stderr


@pytest.mark.parametrize("bad", ["abc", "MTIz"])
def test_bad_secret_key_is_a_clear_error(bad, monkeypatch):
    from auralink import crypto

    monkeypatch.setenv("AURALINK_SECRET_KEY", bad)
    with pytest.raises(crypto.SecretKeyError):
        crypto.load_key()


def test_pipeline_selection_runs_the_graph_in_order(db_url, monkeypatch):
    from auralink import pipeline

    ran: list[str] = []
    monkeypatch.setattr(pipeline, "run_job", lambda name, **kw: ran.append(name) or {"status": "succeeded"})
    pipeline.run_pipeline(select=["+check_source_quality"], exclude=["transcribe_recordings"])
    assert ran == ["summarize_transcripts", "check_source_quality"]
