"""``auralink recordings fetch|transcribe|pending``: what the Argo steps call."""

from __future__ import annotations

import json

import pytest
from auralink.cli import main

from tests.recordings.conftest import new_call, new_org, new_recording


@pytest.fixture(autouse=True)
def _pocketsphinx(monkeypatch):
    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_pending_prints_batch_descriptors(db, speech_dir, capsys):
    org = new_org(db)
    for _ in range(5):
        new_recording(db, org, new_call(db, org), speech_dir / "s0.wav")
    assert main(["recordings", "pending", "--batch-size", "2"]) == 0
    assert _json(capsys) == [{"batch": 0, "batch_size": 2}, {"batch": 1, "batch_size": 2}, {"batch": 2, "batch_size": 2}]
    assert main(["recordings", "pending", "--batch-size", "2", "--max-batches", "1"]) == 0
    assert _json(capsys) == [{"batch": 0, "batch_size": 2}]
    db.execute("UPDATE call_recordings SET status = 'transcribed'")
    assert main(["recordings", "pending", "--batch-size", "50"]) == 0
    assert _json(capsys) == []


def test_fetch_then_transcribe_from_downloaded_file(recordings_db, tmp_path, capsys):
    db = recordings_db["conn"]
    rec = recordings_db["recordings"][0]
    out = tmp_path / "work" / "audio.wav"
    assert main(["recordings", "fetch", "--recording-id", rec, "--out", str(out)]) == 0
    assert _json(capsys)["bytes"] == out.stat().st_size > 1000
    assert not out.with_name("audio.wav.part").exists()

    assert main(["recordings", "transcribe", "--recording-id", rec, "--audio", str(out)]) == 0
    result = _json(capsys)
    assert result["status"] == "transcribed" and result["engine"] == "pocketsphinx" and result["segments"] > 0
    assert db.execute("SELECT status FROM call_recordings WHERE id = %s", (rec,)).fetchone()[0] == "transcribed"

    # An Argo retry of the same step is a no-op, not a second transcription.
    assert main(["recordings", "transcribe", "--recording-id", rec]) == 0
    assert _json(capsys)["skipped"] is True
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 1


def test_transcribe_bad_file_exits_non_zero_and_records_failure(db, bad_files, capsys):
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), bad_files["corrupt"])
    assert main(["recordings", "transcribe", "--recording-id", rec]) == 3   # a bad item: recorded, not worth a retry
    assert "failed" in capsys.readouterr().err
    status, reason, retries = db.execute("SELECT status, failure_reason, retry_count FROM call_recordings").fetchone()
    assert status == "failed" and "decode" in reason and retries == 1


def test_fetch_errors_are_one_line(db, bad_files, tmp_path, capsys):
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), bad_files["missing"])
    assert main(["recordings", "fetch", "--recording-id", rec, "--out", str(tmp_path / "x.wav")]) == 3
    assert "not found" in capsys.readouterr().err
    assert main(["recordings", "fetch", "--recording-id", "00000000-0000-0000-0000-000000000000",
                 "--out", str(tmp_path / "x.wav")]) == 3
    assert "no recording" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["recordings", "fetch", "--recording-id", "nope", "--out", "x"])


def test_fetch_via_fsspec_memory_url(db, speech_dir, tmp_path, capsys):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/call.wav", (speech_dir / "s1.wav").read_bytes())
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), "memory://bucket/call.wav")
    out = tmp_path / "call.wav"
    assert main(["recordings", "fetch", "--recording-id", rec, "--out", str(out)]) == 0
    assert out.read_bytes() == (speech_dir / "s1.wav").read_bytes()
