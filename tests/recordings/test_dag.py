"""The call_recording_processing DAG green in dag.test() against the real Postgres on the seed."""

from __future__ import annotations

import pytest
from auralink.recordings.orchestration import TRANSCRIPTION_POOL

pytestmark = pytest.mark.slow


@pytest.fixture
def transcription_pool(airflow_db):
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(TRANSCRIPTION_POOL, slots=2, description="tests", include_deferred=False)
    return TRANSCRIPTION_POOL


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    bag = DagBag(dag_folder=str(ROOT / "dags" / "call_recording_processing.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["call_recording_processing"]


def test_dag_structure():
    dag = _dag()
    assert dag.timetable._expression == "0 */4 * * *" and not dag.catchup
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"transcribe_recordings.plan_batches", "transcribe_recordings.transcribe_batch",
                          "analyze_call_quality", "summarize_transcripts"}
    batch = tasks["transcribe_recordings.transcribe_batch"]
    assert batch.pool == TRANSCRIPTION_POOL and batch.retries == 2
    assert batch.task_id in tasks["summarize_transcripts"].upstream_task_ids
    assert str(tasks["summarize_transcripts"].trigger_rule) in ("none_failed", "TriggerRule.NONE_FAILED")


def test_dag_processes_seeded_recordings(seeded_db, transcription_pool, monkeypatch, caplog):
    for var in ("AURALINK_OPENAI_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "AURALINK_WHISPER_MODEL",
                "AURALINK_STT_ENGINE"):
        monkeypatch.delenv(var, raising=False)
    db = seeded_db
    total = db.execute("SELECT count(*) FROM call_recordings WHERE status = 'pending'").fetchone()[0]
    assert total > 10

    dag = _dag()
    run = dag.test(run_conf={"transcribe_recordings.batch_size": 16, "transcribe_recordings.max_batches": 10})
    assert str(run.state).endswith("success"), run.state
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    mapped = [k for k in states if k[0] == "transcribe_recordings.transcribe_batch"]
    assert len(mapped) == -(-total // 16) and all(states[k].endswith("success") for k in mapped)

    # Every readable recording with its participants' consent has a transcription, a quality report for
    # its call and a summary (unless someone in it refused AI processing), with AI usage rows; the
    # deliberately bad ones failed with a reason; the seed's few planted consent gaps were skipped with theirs.
    rows = db.execute("""
        SELECT r.status, COALESCE(r.failure_reason, r.skip_reason), t.id IS NOT NULL, q.call_id IS NOT NULL,
               s.id IS NOT NULL OR t.summary_status = 'skipped_no_consent', q.avg_mos, q.quality_bucket
        FROM call_recordings r
        LEFT JOIN transcriptions t ON t.recording_id = r.id
        LEFT JOIN call_quality_reports q ON q.call_id = r.call_id
        LEFT JOIN call_summaries s ON s.transcription_id = t.id""").fetchall()
    good = [r for r in rows if r[0] == "transcribed"]
    skipped = [r for r in rows if r[0] == "skipped_no_consent"]
    bad = [r for r in rows if r[0] not in ("transcribed", "skipped_no_consent")]
    assert len(good) + len(skipped) + len(bad) == total and len(good) >= total * 0.8
    assert 1 <= len(skipped) <= total * 0.15 and all(r[1].startswith("no consent: ") and not r[2] for r in skipped)
    assert all(r[2] and r[3] and r[4] and r[5] is not None and r[6] for r in good)
    assert all(r[0] == "failed" and r[1] for r in bad)
    summarised = db.execute("SELECT count(*) FROM call_summaries").fetchone()[0]
    assert 1 <= len(good) - summarised <= 2   # the planted AI-processing refusal: transcribed, not summarised
    usage = dict(db.execute("SELECT feature, count(*) FROM ai_usage WHERE idempotency_key LIKE 'stt:recording:%' "
                            "OR idempotency_key LIKE 'llm:summary:%' GROUP BY 1").fetchall())
    assert usage == {"stt": len(good), "llm": summarised}   # nothing billed for what was skipped
    assert db.execute("SELECT count(*) FROM ai_usage u JOIN calls c ON c.id = u.call_id WHERE u.user_id IS NOT "
                      "DISTINCT FROM c.initiated_by AND u.idempotency_key LIKE 'stt:%'").fetchone()[0] == len(good)
    jobs = dict(db.execute("SELECT job_name, count(*) FROM job_runs WHERE triggered_by = 'airflow' GROUP BY 1"))
    assert jobs == {"transcribe_recordings": len(mapped), "analyze_call_quality": 1, "summarize_transcripts": 1}
    if bad:  # per-item failures are visible in the task log as well as in job_run_items
        assert "FAILED recording" in caplog.text
        failed_items = db.execute("SELECT count(*) FROM job_run_items WHERE outcome = 'failed' "
                                  "AND item_type = 'recording'").fetchone()[0]
        assert failed_items == len(bad)

    assert db.execute("SELECT state FROM airflow_dag_runs WHERE dag_id = 'call_recording_processing'").fetchall() \
        == [("success",)]

    # A second run finds nothing new to do and duplicates nothing.
    counts = db.execute("SELECT (SELECT count(*) FROM transcriptions), (SELECT count(*) FROM call_summaries), "
                        "(SELECT count(*) FROM call_quality_reports), (SELECT count(*) FROM ai_usage)").fetchone()
    rerun = dag.test(run_conf={"transcribe_recordings.batch_size": 16, "transcribe_recordings.max_batches": 10})
    assert str(rerun.state).endswith("success")
    assert db.execute("SELECT (SELECT count(*) FROM transcriptions), (SELECT count(*) FROM call_summaries), "
                      "(SELECT count(*) FROM call_quality_reports), (SELECT count(*) FROM ai_usage)").fetchone() == counts
