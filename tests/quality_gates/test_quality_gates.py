"""The Great Expectations gates pass on good data, warn on soft problems, and block on broken data."""

from __future__ import annotations

import pytest
from auralink.jobs import JobFailed, run_job


def test_gates_pass_on_the_seed(seeded_url, seeded_db):
    result = run_job("check_source_quality")
    assert result["status"] == "succeeded" and result["checks"] > 15
    rows = seeded_db.execute("SELECT count(*), count(*) FILTER (WHERE success) FROM data_quality_results").fetchone()
    assert rows[0] == result["checks"]


def test_unknown_codec_is_a_warning_not_a_stop(seeded_url, seeded_db):
    seeded_db.execute("""UPDATE call_quality_samples SET codec = 'mystery'
                         WHERE id IN (SELECT id FROM call_quality_samples ORDER BY sampled_at DESC LIMIT 200)""")
    result = run_job("check_source_quality")
    assert result["status"] == "succeeded" and result["warnings"] >= 1
    failed = seeded_db.execute("SELECT table_name, column_name, blocking FROM data_quality_results WHERE NOT success").fetchall()
    assert ("call_quality_samples", "codec", False) in failed


def test_broken_rows_block_the_run(seeded_url, seeded_db):
    # A nine-day call: the schema allows any non-negative duration, the gate knows better.
    seeded_db.execute("""UPDATE calls SET duration_seconds = 777600, ended_at = started_at + interval '9 days'
                         WHERE id = (SELECT id FROM calls ORDER BY started_at DESC LIMIT 1)""")
    with pytest.raises(JobFailed, match="calls.duration_seconds expect_column_values_to_be_between"):
        run_job("check_source_quality")
    status = seeded_db.execute("SELECT status FROM job_runs WHERE job_name = 'check_source_quality'").fetchone()[0]
    assert status == "failed"


def test_socket_urls_get_a_host_for_great_expectations():
    from auralink.quality_gates.gates import ge_connection_string

    assert ge_connection_string("postgresql://postgres:@/auralink?host=/srv/pg") == \
        "postgresql+psycopg://postgres:@localhost/auralink?host=/srv/pg"
    assert ge_connection_string("postgresql://u:p@db:5432/x") == "postgresql+psycopg://u:p@db:5432/x"
