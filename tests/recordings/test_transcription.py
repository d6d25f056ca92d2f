"""The transcription queue against the real Postgres: batches, bad files, retries, idempotency, usage rows."""

from __future__ import annotations

import threading
import time

import pytest
from auralink.jobs import run_job
from auralink.recordings import transcribe
from auralink.recordings.engines import Transcript

from tests.recordings.conftest import new_call, new_org, new_recording


@pytest.fixture(autouse=True)
def _pocketsphinx(monkeypatch):
    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")


def test_batch_transcribes_every_recording_once_with_usage(recordings_db):
    db = recordings_db["conn"]
    result = run_job("transcribe_recordings", {"batch_size": "2", "max_batches": "5"})
    assert result["status"] == "succeeded"
    assert result["claimed"] == 3 and result["transcribed"] == 3 and result["engine"] == "pocketsphinx"

    rows = db.execute("SELECT r.status, t.engine, t.model, t.language, t.text, jsonb_array_length(t.segments), "
                      "t.audio_seconds, t.redacted_text IS NOT NULL FROM call_recordings r "
                      "JOIN transcriptions t ON t.recording_id = r.id").fetchall()
    assert len(rows) == 3
    for status, engine, model, language, text, n_segments, seconds, has_redacted in rows:
        assert (status, engine, model, language) == ("transcribed", "pocketsphinx", "pocketsphinx-en-us", "en")
        assert text and n_segments > 0 and seconds > 1 and has_redacted
    usage = db.execute("SELECT feature, provider, model, unit_type, units, cost_usd, idempotency_key FROM ai_usage").fetchall()
    assert len(usage) == 3
    assert {u[:4] for u in usage} == {("stt", "auralink", "pocketsphinx-en-us", "minutes")}
    assert all(u[4] > 0 and u[5] > 0 and u[6].startswith("stt:recording:") for u in usage)
    items = db.execute("SELECT outcome, count(*) FROM job_run_items WHERE job_run_id = %s GROUP BY 1",
                       (result["run_id"],)).fetchall()
    assert items == [("succeeded", 3)]

    again = run_job("transcribe_recordings")
    assert again["claimed"] == 0
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 3


def test_bad_files_fail_alone_with_reason_and_capped_retries(db, speech_dir, bad_files, monkeypatch):
    org = new_org(db)
    good = new_recording(db, org, new_call(db, org), speech_dir / "s0.wav")
    bad = {kind: new_recording(db, org, new_call(db, org), path) for kind, path in bad_files.items()}
    bad["unsupported"] = new_recording(db, org, new_call(db, org), "nosuchfs://bucket/a.wav")

    result = run_job("transcribe_recordings")
    assert result["status"] == "partial"
    assert result["transcribed"] == 1 and result["failed"] == len(bad)
    status = dict(db.execute("SELECT id::text, status FROM call_recordings").fetchall())
    assert status[good] == "transcribed"
    reasons = dict(db.execute("SELECT id::text, failure_reason FROM call_recordings WHERE status = 'failed'").fetchall())
    assert "empty" in reasons[bad["empty"]]
    assert "not found" in reasons[bad["missing"]]
    assert "decode" in reasons[bad["corrupt"]]
    assert "ffmpeg" in reasons[bad["garbage"]]
    assert "nosuchfs" in reasons[bad["unsupported"]]
    logged = dict(db.execute("SELECT item_id, reason FROM job_run_items WHERE outcome = 'failed' AND job_run_id = %s",
                             (result["run_id"],)).fetchall())
    assert set(logged) == set(bad.values()) and "attempt 1 of 3" in logged[bad["empty"]]

    # Not retried before the back-off (other batches of the same DAG run must not burn the attempts)...
    assert run_job("transcribe_recordings")["claimed"] == 0
    # ...then retried by later runs until the cap, and left alone after it (reason kept).
    monkeypatch.setenv("AURALINK_TRANSCRIBE_RETRY_AFTER_SECONDS", "0")
    for attempt in (2, 3):
        assert run_job("transcribe_recordings")["failed"] == len(bad)
        counts = {r for (r,) in db.execute("SELECT retry_count FROM call_recordings WHERE status = 'failed'")}
        assert counts == {attempt}
    assert run_job("transcribe_recordings")["claimed"] == 0
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 1


def test_oversized_file_fails(db, speech_dir, monkeypatch):
    monkeypatch.setenv("AURALINK_MAX_RECORDING_BYTES", "1000")
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), speech_dir / "s0.wav")
    assert run_job("transcribe_recordings")["failed"] == 1
    status, reason = db.execute("SELECT status, failure_reason FROM call_recordings WHERE id = %s", (rec,)).fetchone()
    assert status == "failed" and "over the 1,000-byte limit" in reason


class CountingEngine:
    """A stand-in engine (the database is real): counts calls and is slow enough for runs to overlap."""

    name, model = "pocketsphinx", "pocketsphinx-en-us"

    def __init__(self):
        self.seen: list[int] = []
        self.lock = threading.Lock()

    def load(self) -> None:
        pass

    def transcribe(self, samples):
        with self.lock:
            self.seen.append(samples.size)
        time.sleep(0.05)
        return Transcript("call me at 415-555-0123", [{"start": 0, "end": 1, "text": "x"}], "en", self.name,
                          self.model, samples.size / 16000)


def test_two_runs_at_once_never_process_a_recording_twice(db, speech_dir, db_url):
    org = new_org(db)
    wavs = sorted(speech_dir.glob("s*.wav"))
    ids = {new_recording(db, org, new_call(db, org), wavs[i % len(wavs)]) for i in range(12)}
    engines = [CountingEngine(), CountingEngine()]
    results: list[dict] = []

    def worker(engine):
        results.append(transcribe.run_batches(db_url, batch_size=2, max_batches=10, engine=engine))

    threads = [threading.Thread(target=worker, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["claimed"] for r in results) == 12
    assert all(r["claimed"] > 0 for r in results), "both runs should have done some of the work"
    assert sum(len(e.seen) for e in engines) == 12
    rows = db.execute("SELECT recording_id::text, redacted_text FROM transcriptions").fetchall()
    assert {r[0] for r in rows} == ids
    assert all(r[1] == "call me at [PHONE]" for r in rows)
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 12


def test_abandoned_claim_is_reclaimed_and_fresh_claim_is_not(recordings_db, db_url):
    db = recordings_db["conn"]
    first, second, third = recordings_db["recordings"]
    db.execute("UPDATE call_recordings SET status = 'processing', claimed_at = now() - interval '3 hours' WHERE id = %s",
               (first,))
    db.execute("UPDATE call_recordings SET status = 'processing', claimed_at = now() WHERE id = %s", (second,))
    with transcribe_connect(db_url) as conn:
        claimed = {r.id: r.retry_count for r in transcribe.claim_batch(conn, 50, claimed_by="test")}
    assert claimed == {first: 1, third: 0}  # the abandoned attempt counts

    # A recording whose worker keeps dying ends failed at the cap instead of being retried forever.
    db.execute("UPDATE call_recordings SET status = 'processing', claimed_at = now() - interval '3 hours', "
               "retry_count = 2 WHERE id = %s", (first,))
    with transcribe_connect(db_url) as conn:
        assert transcribe.claim_batch(conn, 50, claimed_by="test") == []
    assert db.execute("SELECT status, retry_count, failure_reason LIKE 'abandoned%%' FROM call_recordings "
                      "WHERE id = %s", (first,)).fetchone() == ("failed", 3, True)


def transcribe_connect(url):
    from auralink.db.connection import connect

    return connect(url)


def test_remote_opus_recording_is_fetched_and_decoded_with_ffmpeg(db, speech_dir, tmp_path):
    import subprocess

    import fsspec
    from auralink.recordings import audio

    ogg = tmp_path / "call.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(speech_dir / "s0.wav"), "-c:a", "libopus",
                    "-b:a", "24k", str(ogg)], check=True)
    wav_seconds = audio.duration_seconds(audio.decode(speech_dir / "s0.wav"))
    assert audio.duration_seconds(audio.decode(ogg)) == pytest.approx(wav_seconds, abs=0.1)

    fsspec.filesystem("memory").pipe("/recordings/call.ogg", ogg.read_bytes())
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), "memory://recordings/call.ogg")
    assert run_job("transcribe_recordings")["transcribed"] == 1
    text, seconds = db.execute("SELECT text, audio_seconds FROM transcriptions WHERE recording_id = %s",
                               (rec,)).fetchone()
    assert text and float(seconds) == pytest.approx(wav_seconds, abs=0.1)


def test_broken_model_fails_the_job_once_and_hands_the_batch_back(recordings_db, tmp_path, monkeypatch):
    db = recordings_db["conn"]
    broken = tmp_path / "base.pt"
    broken.write_bytes(b"not a torch checkpoint")
    monkeypatch.setenv("AURALINK_STT_ENGINE", "auto")
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(broken))
    with pytest.raises(Exception, match=r"cannot load whisper checkpoint .*base\.pt"):
        run_job("transcribe_recordings")
    assert db.execute("SELECT status, error LIKE '%%cannot load whisper%%' FROM job_runs").fetchone() == ("failed", True)
    # No recording was failed or left claimed: the next run (with a good model) takes them all.
    assert {r for (r,) in db.execute("SELECT DISTINCT status FROM call_recordings")} == {"pending"}
    assert db.execute("SELECT count(*) FROM job_run_items").fetchone()[0] == 0
