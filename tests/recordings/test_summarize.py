"""Summaries against a local OpenAI-compatible server: every failure mode ends as a clear per-item outcome."""

from __future__ import annotations

from decimal import Decimal

import pytest
from auralink.jobs import JobFailed, run_job  # noqa: F401
from auralink.pricing import price_for
from auralink.recordings.summarize import ExtractiveSummarizer, SummaryFailed, parse_summary_json

from tests.recordings.conftest import new_org, new_transcription
from tests.recordings.fake_llm import SCENARIOS, FakeLLM


@pytest.fixture
def llm(monkeypatch):
    with FakeLLM() as server:
        monkeypatch.setenv("AURALINK_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
        monkeypatch.setenv("AURALINK_SUMMARY_MODEL", "gpt-4o-mini")
        monkeypatch.setenv("AURALINK_SUMMARY_TIMEOUT_SECONDS", "0.5")
        monkeypatch.setenv("AURALINK_SUMMARY_MAX_RETRIES", "2")
        yield server


def test_each_failure_mode_is_a_clear_per_item_outcome(db, llm):
    org = new_org(db)
    ids = {s: new_transcription(db, org, f"{s} call. Reach me at jane.doe@example.com or +1 415 555 0123.")
           for s in SCENARIOS}

    from auralink.recordings.summarize import count_pending

    assert count_pending(db) == len(SCENARIOS)
    result = run_job("summarize_transcripts")
    assert result["status"] == "partial"
    assert count_pending(db) == 5  # the failures, with attempts left
    outcomes = {int(i): (o, r) for i, o, r in db.execute(
        "SELECT item_id, outcome, reason FROM job_run_items WHERE job_run_id = %s", (result["run_id"],))}
    by_scenario = {s: outcomes[ids[s]] for s in SCENARIOS}
    assert by_scenario["success"] == ("succeeded", None)
    assert by_scenario["ratelimited"] == ("succeeded", None)
    assert llm.hits["ratelimited"] == 2  # the client's own retry honoured the 429
    assert by_scenario["broken"][0] == "failed" and "HTTP 500 after 2 retries" in by_scenario["broken"][1]
    assert llm.hits["broken"] == 3
    assert by_scenario["slow"][0] == "failed" and "timed out" in by_scenario["slow"][1]
    assert by_scenario["garbled"][0] == "failed" and "not JSON" in by_scenario["garbled"][1]
    assert by_scenario["badbody"][0] == "failed" and "malformed response body" in by_scenario["badbody"][1]
    assert by_scenario["badsentiment"][0] == "failed" and "sentiment" in by_scenario["badsentiment"][1]
    assert all("attempt 1 of 3" in r for o, r in outcomes.values() if o == "failed")

    # Only the redacted text left, with the key in the header (never in the body).
    assert llm.requests and all("jane.doe" not in r["messages"][-1]["content"] for r in llm.requests)
    assert all("[EMAIL]" in r["messages"][-1]["content"] and "[PHONE]" in r["messages"][-1]["content"]
               for r in llm.requests)
    assert {r["auth"] for r in llm.requests} == {"Bearer sk-test-not-a-secret"}

    summaries = db.execute("SELECT transcription_id, summary, action_items, sentiment, provider, model, "
                           "prompt_tokens, completion_tokens FROM call_summaries ORDER BY 1").fetchall()
    assert [s[0] for s in summaries] == sorted([ids["success"], ids["ratelimited"]])
    assert summaries[0][1:] == ("The caller asked about the budget report.", ["Send the report"], "positive",
                                "openai", "gpt-4o-mini", 120, 30)
    usage = db.execute("SELECT provider, model, input_tokens, output_tokens, cost_usd FROM ai_usage "
                       "WHERE feature = 'llm'").fetchall()
    expected_cost = price_for("llm", "openai", "gpt-4o-mini").cost(units=1, input_tokens=120, output_tokens=30)
    assert usage == [("openai", "gpt-4o-mini", 120, 30, expected_cost)] * 2 and expected_cost > Decimal(0)
    errors = dict(db.execute("SELECT id, summary_error FROM transcriptions WHERE summary_failures > 0").fetchall())
    assert set(errors) == {ids[s] for s in ("broken", "slow", "garbled", "badbody", "badsentiment")}

    # Re-runs retry only the failures, up to the cap; nothing is summarised or billed twice.
    assert run_job("summarize_transcripts")["items"]["failed"] == 5
    assert run_job("summarize_transcripts")["items"]["failed"] == 5
    last = run_job("summarize_transcripts")
    assert last["items"] == {"succeeded": 0, "failed": 0, "skipped": 0}
    assert db.execute("SELECT count(*) FROM ai_usage WHERE feature = 'llm'").fetchone()[0] == 2


def test_bad_key_fails_the_whole_job(db, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Deny(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error": {"message": "invalid api key"}}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AURALINK_OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        new_transcription(db, new_org(db), "hello there")
        with pytest.raises(Exception, match="check OPENAI_API_KEY"):
            run_job("summarize_transcripts")
        assert db.execute("SELECT status, error NOT LIKE '%sk-wrong%' FROM job_runs").fetchone() == ("failed", True)
        assert db.execute("SELECT summary_failures FROM transcriptions").fetchone()[0] == 0
    finally:
        server.shutdown()
        server.server_close()


def test_offline_extractive_summary_with_usage_row(db, monkeypatch):
    for var in ("AURALINK_OPENAI_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    org = new_org(db)
    text = ("Thanks for joining the quarterly budget review. Revenue grew in every region this quarter. "
            "The marketing budget overran by ten percent because of the trade show. "
            "We will send the revised forecast to finance by Friday. The weather was nice. "
            "Please schedule a follow up with the regional managers next week.")
    tid = new_transcription(db, org, text)
    empty = new_transcription(db, org, "")
    result = run_job("summarize_transcripts")
    assert result["status"] == "succeeded" and result["provider"] == "auralink" and result["model"] == "tfidf-extractive"
    summary, items, sentiment, provider, model = db.execute(
        "SELECT summary, action_items, sentiment, provider, model FROM call_summaries WHERE transcription_id = %s",
        (tid,)).fetchone()
    assert (provider, model) == ("auralink", "tfidf-extractive")
    assert 0 < len(summary) < len(text) and summary.count(".") == 3
    assert any("forecast" in i for i in items) and any("schedule" in i for i in items)
    assert sentiment in ("positive", "neutral", "negative", "mixed")
    assert db.execute("SELECT summary FROM call_summaries WHERE transcription_id = %s", (empty,)).fetchone()[0] \
        .startswith("No speech")
    assert db.execute("SELECT count(*), sum(cost_usd) FROM ai_usage WHERE feature = 'llm' AND provider = 'auralink'"
                      ).fetchone() == (2, Decimal(0))
    assert run_job("summarize_transcripts")["items"]["succeeded"] == 0  # idempotent


def test_extractive_handles_unpunctuated_engine_output():
    words = ("so the budget for the project is fine but we need to send the invoice to the client tomorrow "
             "and then we can schedule the next meeting about the launch plan and the hiring plan for march ") * 3
    s = ExtractiveSummarizer().summarize(words)
    assert s.summary and len(s.summary.split()) <= 60 and s.action_items


@pytest.mark.parametrize("content, ok", [
    ('{"summary": "x", "action_items": [], "sentiment": "Neutral"}', True),
    ('```json\n{"summary": "x", "action_items": ["a"], "sentiment": "mixed"}\n```', True),
    ('{"summary": "", "action_items": [], "sentiment": "neutral"}', False),
    ('{"summary": "x", "action_items": [1], "sentiment": "neutral"}', False),
    ('["x"]', False),
    ("", False),
])
def test_reply_validation(content, ok):
    if ok:
        assert parse_summary_json(content)[0] == "x"
    else:
        with pytest.raises(SummaryFailed, match="malformed"):
            parse_summary_json(content)


def test_two_summarize_runs_at_once_never_summarize_twice(db, db_url):
    import threading
    import time

    from auralink.recordings.summarize import run

    class SlowExtractive(ExtractiveSummarizer):
        calls = 0
        lock = threading.Lock()

        def summarize(self, redacted_text):
            with self.lock:
                SlowExtractive.calls += 1
            time.sleep(0.05)
            return super().summarize(redacted_text)

    org = new_org(db)
    ids = {new_transcription(db, org, f"Call number {i}. We will send the notes. Thanks.") for i in range(10)}
    results = []
    threads = [threading.Thread(target=lambda: results.append(run(db_url, batch_size=3, summarizer=SlowExtractive())))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["succeeded"] for r in results) == 10 and SlowExtractive.calls == 10
    assert {r[0] for r in db.execute("SELECT transcription_id FROM call_summaries")} == ids
    assert db.execute("SELECT count(*) FROM ai_usage WHERE feature = 'llm'").fetchone()[0] == 10
