"""The source gates (before dbt) pass on the seed, warn on soft problems, and block on broken, stale or
orphaned data; their results land in data_quality_results and in a Data Docs site on disk."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from auralink.jobs import JobFailed, run_job
from auralink.jobs.interval import DataInterval

from tests.concurrency import run_concurrently
from tests.quality_gates.conftest import SEED_NIGHT


def _failed(db) -> set[tuple[str, str | None, str, bool]]:
    return set(db.execute("SELECT table_name, column_name, expectation, blocking FROM data_quality_results "
                          "WHERE NOT success").fetchall())


def _with_password(url: str) -> tuple[str, str]:
    """The URL with a password (trust auth ignores it) and that password: it must never reach a file."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    secret = "not-a-real-secret-7f3a"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{secret}@{host}")), secret


def test_gates_pass_on_the_seed_and_build_data_docs(seeded_url, seeded_db, gx_dir, monkeypatch):
    url, secret = _with_password(seeded_url)
    result = run_job("check_source_quality", url=url, interval=SEED_NIGHT)
    assert result["status"] == "succeeded" and result["checks"] > 25 and result["warnings"] == 0
    assert result["window_end"] == "2026-11-21T00:00:00+00:00"  # the night's end: freshness is judged there
    rows = seeded_db.execute("SELECT expectation, phase, ge_run_name, description FROM data_quality_results").fetchall()
    assert len(rows) == result["checks"]
    assert {r[1] for r in rows} == {"source"} and {r[2] for r in rows} == {result["ge_run_name"]}
    kinds = {r[0] for r in rows}
    assert {"expect_column_max_to_be_between", "unexpected_rows_expectation", "expect_table_row_count_to_be_between",
            "expect_column_values_to_not_be_null", "expect_column_values_to_be_between"} <= kinds
    assert any("freshness" in r[3] for r in rows) and any("exists in organizations.id" in r[3] for r in rows)

    index = Path(result["data_docs"])
    assert index == gx_dir / "data_docs" / "index.html" and index.is_file()
    assert len(list((gx_dir / "validations" / "source").rglob("*.json"))) == 5  # one result per gate
    for path in gx_dir.rglob("*"):  # the data source lives in memory only: no URL, no password on disk
        if path.is_file() and path.suffix in (".json", ".html", ".yml"):
            text = path.read_text(errors="ignore")
            assert secret not in text and "postgresql" not in text, path


def test_unknown_codec_is_a_warning_not_a_stop(seeded_url, seeded_db):
    seeded_db.execute("""UPDATE call_quality_samples SET codec = 'mystery'
                         WHERE id IN (SELECT id FROM call_quality_samples ORDER BY sampled_at DESC LIMIT 200)""")
    result = run_job("check_source_quality", {}, interval=SEED_NIGHT)
    assert result["status"] == "succeeded" and result["warnings"] >= 1
    assert ("call_quality_samples", "codec", "expect_column_values_to_be_in_set", False) in _failed(seeded_db)


def test_broken_rows_block_the_run(seeded_url, seeded_db):
    # A nine-day call: the schema allows any non-negative duration, the gate knows better.
    seeded_db.execute("""UPDATE calls SET duration_seconds = 777600, ended_at = started_at + interval '9 days'
                         WHERE id = (SELECT id FROM calls ORDER BY started_at DESC LIMIT 1)""")
    with pytest.raises(JobFailed, match="calls.duration_seconds expect_column_values_to_be_between"):
        run_job("check_source_quality", {}, interval=SEED_NIGHT)
    status = seeded_db.execute("SELECT status FROM job_runs WHERE job_name = 'check_source_quality'").fetchone()[0]
    assert status == "failed"


def test_stale_sources_block_and_quiet_ones_only_warn(seeded_url, seeded_db):
    # Three days after the seed's last day nothing new has arrived: the feeds stalled.
    with pytest.raises(JobFailed, match="Data Docs: ") as failure:
        run_job("check_source_quality", {"max_age_hours": "36"}, interval=DataInterval.for_day(dt.date(2026, 11, 23)))
    for table, column in (("calls", "started_at"), ("call_quality_samples", "sampled_at"), ("usage_records", "recorded_at")):
        assert f"{table}.{column} expect_column_max_to_be_between" in str(failure.value)
    failed = _failed(seeded_db)
    assert ("calls", "started_at", "expect_column_max_to_be_between", True) in failed
    assert ("ai_usage", "occurred_at", "expect_column_max_to_be_between", False) in failed   # warning only
    assert ("audit_logs", "occurred_at", "expect_column_max_to_be_between", False) in failed
    observed = seeded_db.execute("""SELECT observed->>'observed_value' FROM data_quality_results
                                    WHERE table_name = 'calls' AND expectation = 'expect_column_max_to_be_between'""").fetchone()[0]
    assert observed is None  # no call at all in the two days before the night's end


def test_orphaned_keys_block_the_run(seeded_url, seeded_db):
    # usage_records is partitioned (no foreign key); the other orphans arrive as the seed loads: FK triggers off.
    seeded_db.execute("""INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)
                         SELECT gen_random_uuid(), 'call_minutes', 1, max(recorded_at), 'orphan-org' FROM usage_records""")
    seeded_db.execute("SET session_replication_role = replica")
    seeded_db.execute("""INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms, packet_loss, codec)
                         SELECT gen_random_uuid(), 999999999, max(sampled_at), 40, 3, 0.01, 'opus' FROM call_quality_samples""")
    seeded_db.execute("UPDATE calls SET organization_id = gen_random_uuid() WHERE id = (SELECT id FROM calls ORDER BY started_at DESC LIMIT 1)")
    seeded_db.execute("SET session_replication_role = origin")
    with pytest.raises(JobFailed) as failure:
        run_job("check_source_quality", {}, interval=SEED_NIGHT)
    for key in ("usage_records.organization_id", "call_quality_samples.call_id", "call_quality_samples.participant_id",
                "calls.organization_id"):
        assert f"{key} unexpected_rows_expectation" in str(failure.value)
    count = seeded_db.execute("""SELECT observed->>'observed_value' FROM data_quality_results
                                 WHERE table_name = 'usage_records' AND column_name = 'organization_id'
                                   AND expectation = 'unexpected_rows_expectation'""").fetchone()[0]
    assert count == "1"


def test_two_runs_at_once_keep_both_results_in_one_site(seeded_url, seeded_db, gx_dir):
    # Two nights at once (a second run of the same night would find it done and skip).
    nights = iter([SEED_NIGHT, DataInterval.for_day(dt.date(2026, 11, 19))])
    results, errors = run_concurrently(lambda: run_job("check_source_quality", {}, interval=next(nights)), times=2)
    assert errors == [] and [r["status"] for r in results] == ["succeeded", "succeeded"]
    runs = {p.name for p in (gx_dir / "validations" / "source" / "calls").iterdir()}
    assert runs == {r["ge_run_name"] for r in results} and len(runs) == 2
    index = (gx_dir / "data_docs" / "index.html").read_text()
    assert all(name in index for name in runs)


def test_the_lock_serializes_writers_and_prune_drops_only_old_results(tmp_path):
    import threading
    import time

    from auralink.quality_gates import store

    order: list[str] = []

    def second() -> None:
        with store.exclusive(tmp_path):
            order.append("second")

    with store.exclusive(tmp_path):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first")
    waiter.join(5)
    assert order == ["first", "second"]

    old = tmp_path / "validations" / "source" / "calls" / "run1" / "t" / "a.json"
    new = tmp_path / "validations" / "source" / "calls" / "run2" / "t" / "a.json"
    page = tmp_path / "data_docs" / "validations" / "source" / "calls" / "run1" / "t" / "a.html"
    for path in (old, new, page):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    long_ago = time.time() - 40 * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(page, (long_ago, long_ago))
    assert store.prune(tmp_path, keep_days=30) == 2
    assert new.exists() and not old.exists() and not (tmp_path / "validations" / "source" / "calls" / "run1").exists()


def test_cli_prints_the_data_docs_path(gx_dir, capsys):
    from auralink.cli import main

    assert main(["quality", "docs"]) == 1
    assert "no Data Docs yet" in capsys.readouterr().err
    index = gx_dir / "data_docs" / "index.html"
    index.parent.mkdir(parents=True)
    index.write_text("<html></html>")
    assert main(["quality", "docs"]) == 0
    assert capsys.readouterr().out.strip() == str(index)
    assert main(["quality", "docs", "--url"]) == 0
    assert capsys.readouterr().out.strip() == index.as_uri()


def test_socket_urls_get_a_host_for_great_expectations():
    from auralink.quality_gates.gates import ge_connection_string

    assert ge_connection_string("postgresql://postgres:@/auralink?host=/srv/pg") == \
        "postgresql+psycopg://postgres:@localhost/auralink?host=/srv/pg"
    assert ge_connection_string("postgresql://u:p@db:5432/x") == "postgresql+psycopg://u:p@db:5432/x"
