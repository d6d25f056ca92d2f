"""Every step of every generated workflow, run locally against the test PostgreSQL through the `auralink`
entry point, in the order and with the parameters, items and artifacts the YAML gives it (argo_local.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from argo_local import LocalArgo

from tests.recordings.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
SENTENCES = ["hello this is a short test call about the budget for next year",
             "we will send the report to the team on monday morning",
             "please call me back tomorrow about the new contract"]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "workflows" / name).read_text())


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> list[Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("speech")
    paths = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), text], check=True,
                       capture_output=True)
        paths.append(path)
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    return [*paths, corrupt]


@pytest.fixture
def calls(db, speech) -> dict[str, list[str]]:
    """One organization, a call per audio file (with quality samples) and its pending recording."""
    org = str(uuid.uuid4())
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, 'Acme', %s, 'pro')", (org, f"acme-{org[:8]}"))
    out: dict[str, list[str]] = {"good": [], "bad": [], "calls": []}
    for path in speech:
        call = str(uuid.uuid4())
        # Its one participant is a guest: the host attested the guest's consent (else nothing is processed).
        db.execute("INSERT INTO calls (id, organization_id, started_at, ended_at, duration_seconds, "
                   "guest_consent_attested_at) VALUES (%s, %s, %s, %s, 300, %s)",
                   (call, org, T0, T0 + dt.timedelta(minutes=5), T0))
        pid = db.execute("INSERT INTO call_participants (call_id, display_name, participant_role, joined_at) "
                         "VALUES (%s, 'guest', 'guest', %s) RETURNING id", (call, T0)).fetchone()[0]
        for i in range(6):
            db.execute("INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms, "
                       "packet_loss, codec) VALUES (%s, %s, %s, 80, 5, 0.001, 'opus')",
                       (call, pid, T0 + dt.timedelta(seconds=10 * i)))
        rec = str(uuid.uuid4())
        db.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, codec) "
                   "VALUES (%s, %s, %s, %s, 'pcm')", (rec, call, org, path.resolve().as_uri()))
        out["bad" if path.name == "corrupt.wav" else "good"].append(rec)
        out["calls"].append(call)
    return out


@pytest.fixture
def secrets(db_url, monkeypatch) -> dict[tuple[str, str], str]:
    """The Kubernetes Secrets of the namespace; no LLM key, so summaries stay offline."""
    import os

    for var in ("OPENAI_BASE_URL", "AURALINK_OPENAI_BASE_URL", "AURALINK_SUMMARIZER"):
        monkeypatch.delenv(var, raising=False)
    return {("auralink-db", "url"): db_url, ("auralink-secret-key", "key"): os.environ["AURALINK_SECRET_KEY"]}


def tracked(db, uid: str) -> tuple:
    return db.execute("SELECT template, status, parameters, finished_at IS NOT NULL, error FROM argo_workflows "
                      "WHERE uid = %s", (uid,)).fetchone()


def assert_every_container_ran(run, doc: dict, *, except_: set[str] = frozenset()) -> None:
    spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
    containers = {t["name"] for t in spec["templates"] if "container" in t}
    assert containers - except_ <= {s.template for s in run.steps}


def test_ai_batch_processing(db, calls, secrets, tmp_path):
    doc = load("ai-batch-processing.yaml")
    run = LocalArgo(doc, secrets=secrets, workdir=tmp_path,
                    parameters={"batch-size": "2", "max-batches": "5"}).execute()
    assert run.status == "Succeeded", [(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code]
    assert_every_container_ran(run, doc)

    [select] = run.by_template("select-batches")
    assert json.loads(select.stdout) == [{"batch": 0, "batch_size": 2}, {"batch": 1, "batch_size": 2}]
    assert len(run.by_template("transcribe-batch")) == 2  # 4 recordings, batches of 2
    statuses = dict(db.execute("SELECT id::text, status FROM call_recordings").fetchall())
    assert {statuses[r] for r in calls["good"]} == {"transcribed"}
    assert {statuses[r] for r in calls["bad"]} == {"failed"}  # the bad file failed alone
    texts = [t for (t,) in db.execute("SELECT lower(text) FROM transcriptions").fetchall()]
    assert len(texts) == 3 and any("report" in t or "monday" in t for t in texts)
    assert db.execute("SELECT count(*) FROM call_quality_reports").fetchone()[0] == 4
    runs = db.execute("SELECT job_name, triggered_by, status FROM job_runs ORDER BY id").fetchall()
    assert {(j, t) for j, t, _ in runs} == {("transcribe_recordings", "argo"), ("analyze_call_quality", "argo")}
    failed_items = db.execute("SELECT item_id FROM job_run_items WHERE outcome = 'failed'").fetchall()
    assert failed_items == [(calls["bad"][0],)]

    template, status, params, finished, error = tracked(db, run.uid)
    assert (template, status, finished, error) == ("ai-batch-processing", "Succeeded", True, None)
    assert params == {"batch-size": "2", "max-batches": "5"}

    # Twice is safe: nothing transcribed is transcribed again; at most the bad file is retried (the
    # recordings queue retries failed items a bounded number of times, after a delay).
    again = LocalArgo(doc, secrets=secrets, workdir=tmp_path).execute()
    assert again.status == "Succeeded"
    assert len(json.loads(again.by_template("select-batches")[0].stdout)) <= 1
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 3
    statuses = dict(db.execute("SELECT id::text, status FROM call_recordings").fetchall())
    assert {statuses[r] for r in calls["good"]} == {"transcribed"}


def test_transcription_passes_audio_as_an_artifact(db, calls, secrets, tmp_path):
    doc = load("transcription.yaml")
    rec = calls["good"][1]
    run = LocalArgo(doc, secrets=secrets, workdir=tmp_path, parameters={"recording-id": rec}).execute()
    assert run.status == "Succeeded", [(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code]
    assert_every_container_ran(run, doc)
    [fetch], [transcribe] = run.by_template("fetch"), run.by_template("transcribe")
    artifact = Path(fetch.args[fetch.args.index("--out") + 1])
    assert artifact.parent == tmp_path and artifact.read_bytes()[:4] == b"RIFF"
    assert transcribe.args[transcribe.args.index("--audio") + 1] == str(artifact)
    assert json.loads(transcribe.stdout)["status"] == "transcribed"
    text = db.execute("SELECT lower(t.text) FROM transcriptions t WHERE recording_id = %s", (rec,)).fetchone()[0]
    assert "report" in text or "monday" in text
    assert tracked(db, run.uid)[:2] == ("transcription", "Succeeded")

    # Twice is safe: the second run skips the transcribed recording.
    again = LocalArgo(doc, secrets=secrets, workdir=tmp_path, parameters={"recording-id": rec}).execute()
    assert again.status == "Succeeded" and json.loads(again.by_template("transcribe")[0].stdout)["skipped"]
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 1


def test_transcription_of_a_bad_file_fails_and_says_why(db, calls, secrets, tmp_path):
    doc = load("transcription.yaml")
    run = LocalArgo(doc, secrets=secrets, workdir=tmp_path, parameters={"recording-id": calls["bad"][0]}).execute()
    assert run.status == "Failed"
    # Exit 3 (the item is bad) is outside the retry expression's transient codes: Argo gives up at once.
    failed = [s for s in run.steps if s.exit_code]
    assert [s.exit_code for s in failed] == [3]
    assert run.by_template("record-exit")[0].exit_code == 0
    template, status, _, finished, error = tracked(db, run.uid)
    assert (template, status, finished) == ("transcription", "Failed", True)
    assert error.startswith("transcribe Failed:") and calls["bad"][0] in error


def test_transcription_needs_its_recording_id(secrets, tmp_path):
    with pytest.raises(ValueError, match="recording-id"):
        LocalArgo(load("transcription.yaml"), secrets=secrets, workdir=tmp_path)


def add_transcripts(db, calls) -> list[int]:
    ids = []
    for rec, text in zip(calls["good"], SENTENCES):
        call, org = db.execute("SELECT call_id, organization_id FROM call_recordings WHERE id = %s", (rec,)).fetchone()
        ids.append(db.execute(
            "INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text) "
            "VALUES (%s, %s, %s, 'test', 'test', %s) RETURNING id",
            (rec, call, org, f"{text}. The customer agreed. We will follow up next week.")).fetchone()[0])
    return ids


def test_summarization_workers_drain_the_queue_once(db, calls, secrets, tmp_path):
    add_transcripts(db, calls)
    doc = load("summarization.yaml")
    run = LocalArgo(doc, secrets=secrets, workdir=tmp_path,
                    parameters={"batch-size": "1", "max-workers": "2"}).execute()
    assert run.status == "Succeeded", [(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code]
    assert_every_container_ran(run, doc)
    assert json.loads(run.by_template("select-transcripts")[0].stdout) == [
        {"worker": 0, "batch_size": 1}, {"worker": 1, "batch_size": 1}]
    assert len(run.by_template("summarize-worker")) == 2
    assert db.execute("SELECT count(*), count(DISTINCT transcription_id) FROM call_summaries").fetchone() == (3, 3)
    usage = db.execute("SELECT count(*) FROM ai_usage WHERE feature = 'llm'").fetchone()[0]
    assert usage == 3  # token usage and cost recorded once per summary
    assert tracked(db, run.uid)[:2] == ("summarization", "Succeeded")

    again = LocalArgo(doc, secrets=secrets, workdir=tmp_path).execute()
    assert json.loads(again.by_template("select-transcripts")[0].stdout) == []
    assert again.by_template("summarize-worker") == []


@pytest.fixture
def seeded_secrets(seeded_url, monkeypatch) -> dict[tuple[str, str], str]:
    import os

    monkeypatch.delenv("AURALINK_SUMMARIZER", raising=False)
    return {("auralink-db", "url"): seeded_url, ("auralink-secret-key", "key"): os.environ["AURALINK_SECRET_KEY"]}


@pytest.mark.slow
def test_nightly_cron_runs_the_template_for_the_day_before_its_scheduled_time(seeded_db, seeded_secrets, tmp_path):
    """The whole night on the small deterministic seed, as the CronWorkflow starts it at 02:00 after the
    seed's last day: every job of the graph ran for that day, each as its own step."""
    # Speech-to-text dominates the time: keep 10 recordings' audio, the rest is gone (as after retention).
    seeded_db.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now() WHERE id NOT IN "
                      "(SELECT id FROM call_recordings WHERE status = 'pending' ORDER BY created_at, id LIMIT 10)")
    pending = seeded_db.execute("SELECT count(*) FROM call_recordings WHERE status = 'pending'").fetchone()[0]
    scheduled = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
    run = LocalArgo(load("nightly-cron.yaml"), secrets=seeded_secrets, workdir=tmp_path, created_at=scheduled,
                    workflow_templates={"nightly": load("nightly.yaml")},
                    parameters={"transcribe-recordings-batch-size": "5", "transcribe-recordings-max-batches": "2",
                                "summarize-transcripts-batch-size": "5"}).execute()
    doc = load("nightly.yaml")
    assert_every_container_ran(run, doc)
    failed_jobs = seeded_db.execute("SELECT job_name, error FROM job_runs WHERE status = 'failed'").fetchall()
    assert run.status == "Succeeded", ([(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code], failed_jobs)
    assert pending == 10 and len(run.by_template("transcribe-batch")) == 2
    transcribed = seeded_db.execute("SELECT count(*) FROM transcriptions").fetchone()[0]
    assert transcribed > 0
    assert seeded_db.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == transcribed
    from auralink.jobs import graph

    nights = dict(seeded_db.execute(
        "SELECT job_name, interval_start FROM job_runs WHERE triggered_by = 'argo' AND job_name <> ALL(%s)",
        (["transcribe_recordings", "summarize_transcripts"],)).fetchall())  # fan-out pods drain a queue
    assert set(nights) >= {j.name for j in graph.jobs_of("nightly")} - {"transcribe_recordings", "summarize_transcripts"}
    assert set(nights.values()) == {dt.datetime(2026, 11, 20, tzinfo=dt.UTC)}
    max_day = seeded_db.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0]
    assert max_day == dt.date(2026, 11, 20)
    assert tracked(seeded_db, run.uid)[:2] == ("nightly", "Succeeded")


@pytest.mark.slow
def test_nightly_for_a_past_date_skips_the_current_only_jobs(seeded_db, seeded_secrets, tmp_path):
    """`argo submit --from workflowtemplate/nightly -p date=...`: that day only, nothing after it."""
    seeded_db.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now()")
    run = LocalArgo(load("nightly.yaml"), secrets=seeded_secrets, workdir=tmp_path,
                    parameters={"date": "2026-11-18"}).execute()
    assert run.status == "Succeeded", [(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code]
    statuses = dict(seeded_db.execute("SELECT job_name, status FROM job_runs WHERE triggered_by = 'argo'").fetchall())
    assert statuses["process_compliance_requests"] == statuses["flag_overdue_compliance_requests"] == "skipped"
    assert statuses["dbt_build"] == "succeeded"
    assert seeded_db.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary").fetchone()[0] == \
        dt.date(2026, 11, 18)


def test_summarization_calls_the_llm_with_the_key_from_its_secret(db, calls, secrets, tmp_path):
    add_transcripts(db, calls)
    with FakeLLM() as llm:   # the recordings tests' OpenAI-compatible server (answers "success")
        run = LocalArgo(
            load("summarization.yaml"), workdir=tmp_path, parameters={"batch-size": "2", "max-workers": "2"},
            secrets={**secrets, ("auralink-openai", "api-key"): "sk-test-from-secret"},
            configmaps={"auralink-settings": {"AURALINK_OPENAI_BASE_URL": llm.base_url,
                                              "AURALINK_SUMMARY_MODEL": "gpt-4o-mini"}},
        ).execute()
    assert run.status == "Succeeded", [(s.template, s.stderr[-300:]) for s in run.steps if s.exit_code]
    assert len(llm.requests) == 3
    assert {(c["path"], c["auth"], c["model"]) for c in llm.requests} == {
        ("/v1/chat/completions", "Bearer sk-test-from-secret", "gpt-4o-mini")}
    usage = db.execute("SELECT provider, model, sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM ai_usage "
                       "WHERE feature = 'llm' GROUP BY provider, model").fetchall()
    assert [(p, m, i, o) for p, m, i, o, _ in usage] == [("openai", "gpt-4o-mini", 360, 90)]
    assert usage[0][4] > 0  # priced from the price book
