"""Bad audio and unreachable endpoints: every recording fails (or is set aside) alone, with a clear reason,
and silence is never transcribed or billed."""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from auralink.jobs import JobFailed, run_job
from auralink.recordings import audio

from tests.recordings.conftest import new_call, new_org, new_recording, new_transcription


@pytest.fixture(autouse=True)
def _pocketsphinx(monkeypatch):
    monkeypatch.setenv("AURALINK_STT_ENGINE", "pocketsphinx")


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def recording_state(db, rec: str):
    return db.execute("SELECT status, failure_reason FROM call_recordings WHERE id = %s", (rec,)).fetchone()


def item(db, run_id: int, rec: str):
    return db.execute("SELECT outcome, reason FROM job_run_items WHERE job_run_id = %s AND item_id = %s",
                      (run_id, rec)).fetchone()


def test_over_the_duration_limit_is_refused_from_the_header_without_decoding(db, speech_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_MAX_AUDIO_SECONDS", "1")
    ogg = tmp_path / "long.ogg"
    import subprocess

    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(speech_dir / "s0.wav"), "-c:a", "libopus",
                    str(ogg)], check=True)
    org = new_org(db)
    recs = {kind: new_recording(db, org, new_call(db, org), path)
            for kind, path in (("wav", speech_dir / "s0.wav"), ("ogg", ogg))}

    def never(*args, **kwargs):
        raise AssertionError("decoded a recording its header already showed to be too long")

    monkeypatch.setattr(audio, "_decode_soundfile", never)
    monkeypatch.setattr(audio, "_decode_ffmpeg", never)
    result = run_job("transcribe_recordings")
    assert result["failed"] == 2 and result["transcribed"] == 0
    for rec in recs.values():
        status, reason = recording_state(db, rec)
        assert status == "failed" and "over the 1-second limit (AURALINK_MAX_AUDIO_SECONDS); not decoded" in reason
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 0


def test_the_limit_also_holds_when_the_header_does_not_say(tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_MAX_AUDIO_SECONDS", "2")
    wav = write_wav(tmp_path / "five.wav", np.zeros(5 * 16_000))
    info = audio.probe(wav)
    with pytest.raises(audio.RecordingTooLong, match="over the 2-second limit"):
        audio._decode_soundfile(wav, audio.AudioInfo(None, info.sample_rate, info.channels, None), 2.0)
    monkeypatch.setenv("AURALINK_MAX_AUDIO_SECONDS", "soon")
    with pytest.raises(ValueError, match="AURALINK_MAX_AUDIO_SECONDS must be a number"):
        audio.max_audio_seconds()


def test_a_wav_declaring_more_audio_than_it_holds_is_corrupt(db, speech_dir, tmp_path):
    header = (b"RIFF" + struct.pack("<I", 36 + 10_000_000) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 32_000, 2, 16) + b"data" + struct.pack("<I", 10_000_000))
    liar = tmp_path / "liar.wav"
    liar.write_bytes(header + np.random.default_rng(1).bytes(64 * 1024))
    truncated_flac = tmp_path / "cut.flac"
    whole = tmp_path / "whole.flac"
    sf.write(str(whole), np.tile(sf.read(str(speech_dir / "s0.wav"))[0], 20), 16_000, format="FLAC")
    truncated_flac.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    org = new_org(db)
    bad = {kind: new_recording(db, org, new_call(db, org), path)
           for kind, path in (("liar", liar), ("flac", truncated_flac))}
    result = run_job("transcribe_recordings")
    assert result["failed"] == 2 and result["transcribed"] == 0
    status, reason = recording_state(db, bad["liar"])
    assert status == "failed"
    assert reason.startswith("WAV header declares 10,000,000 bytes of audio but the file holds 65,536")
    status, reason = recording_state(db, bad["flac"])
    assert status == "failed" and ("truncated or corrupt" in reason or "cannot decode FLAC" in reason), reason
    assert db.execute("SELECT count(*) FROM transcriptions").fetchone()[0] == 0


def test_silence_and_hum_end_no_speech_unbilled_and_speech_still_transcribes(db, speech_dir, tmp_path):
    rng = np.random.default_rng(2)
    silent = write_wav(tmp_path / "silent.wav", np.zeros(20 * 16_000))
    hiss = write_wav(tmp_path / "hiss.wav", 0.01 * rng.standard_normal(20 * 16_000))      # constant -40 dBFS
    t = np.arange(20 * 48_000) / 48_000
    hum = write_wav(tmp_path / "hum.wav", 0.2 * np.sin(2 * np.pi * 50 * t), rate=48_000)  # mains hum
    org = new_org(db)
    quiet = {name: new_recording(db, org, new_call(db, org), path)
             for name, path in (("silent", silent), ("hiss", hiss), ("hum", hum))}
    speech = new_recording(db, org, new_call(db, org), speech_dir / "s1.wav")
    result = run_job("transcribe_recordings")
    assert result["status"] == "succeeded", result
    assert result["no_speech"] == 3 and result["transcribed"] == 1 and result["failed"] == 0
    for rec in quiet.values():
        assert recording_state(db, rec) == ("no_speech", None)
        outcome, reason = item(db, result["run_id"], rec)
        assert outcome == "skipped" and "no speech in 20.0 s of audio (energy check): not transcribed, not billed" \
            == reason
    assert recording_state(db, speech) == ("transcribed", None)
    assert db.execute("SELECT recording_id::text FROM transcriptions").fetchall() == [(speech,)]
    assert db.execute("SELECT count(*), sum(units) < 1 FROM ai_usage").fetchone() == (1, True)   # the speech only
    assert db.execute("SELECT count(*) FROM call_recordings WHERE status = 'no_speech' AND duration_seconds = 20"
                      ).fetchone()[0] == 3
    assert run_job("transcribe_recordings")["claimed"] == 0            # never claimed again


def test_faster_whisper_silence_is_no_speech_by_its_vad(db, tmp_path, monkeypatch):
    from auralink.recordings.engines import EngineUnavailable, FasterWhisperEngine

    try:
        FasterWhisperEngine()
    except EngineUnavailable as exc:
        pytest.skip(f"faster-whisper model not available: {exc}")
    monkeypatch.setenv("AURALINK_STT_ENGINE", "faster-whisper")
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), write_wav(tmp_path / "silent.wav", np.zeros(60 * 16_000)))
    result = run_job("transcribe_recordings")
    assert result["no_speech"] == 1 and result["engine"] == "faster-whisper"
    assert recording_state(db, rec) == ("no_speech", None)
    assert "faster-whisper voice activity detection" in item(db, result["run_id"], rec)[1]
    assert db.execute("SELECT count(*) FROM ai_usage").fetchone()[0] == 0


def test_an_unsupported_storage_scheme_is_refused_before_any_network_call(db, monkeypatch, capsys):
    dialled: list = []

    def no_dns(*args, **kwargs):
        dialled.append(args)
        raise AssertionError("a network call for a recording whose scheme is not supported")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "create_connection", no_dns)
    org = new_org(db)
    recs = [new_recording(db, org, new_call(db, org), uri)
            for uri in ("ftp://recordings.example.com/call.wav", "http://10.0.0.1/call.wav", "sftp://h/a.wav")]
    result = run_job("transcribe_recordings")
    assert result["failed"] == 3 and not dialled
    for rec in recs:
        status, reason = recording_state(db, rec)
        assert status == "failed" and "unsupported storage scheme" in reason
        assert "(supported: file, s3, gs, gcs, az, abfs, memory; AURALINK_STORAGE_SCHEMES)" in reason
        assert "gaierror" not in reason and "Traceback" not in reason
    from auralink.cli import main

    assert main(["recordings", "fetch", "--recording-id", recs[0], "--out", "/tmp/never.wav"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unsupported storage scheme ftp://" in err and not dialled


def test_block_decoding_equals_decoding_at_once(tmp_path, monkeypatch):
    from scipy.signal import resample_poly

    rng = np.random.default_rng(3)
    stereo = (0.3 * rng.standard_normal((int(4.3 * 44_100), 2))).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(str(path), stereo, 44_100, subtype="PCM_24")
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 1)   # several blocks, a partial last one
    decoded = audio.decode(path)
    whole = resample_poly(sf.read(str(path), dtype="float32")[0].mean(axis=1), 160, 441)
    assert decoded.shape == whole.shape
    assert np.abs(decoded - whole).max() < 1e-4


def test_long_audio_reaches_the_engine_a_window_at_a_time():
    levels = np.full(int(25 * 1000 / 30), -20.0, dtype=np.float32)   # 25 s of 30 ms frames
    levels[300] = -80.0                                               # a pause at 9.0 s
    total = levels.size * audio.FRAME
    cuts = audio.pieces(levels, total, 10)
    assert cuts[0] == (0, 300 * audio.FRAME)                          # cut in the pause, not at 10 s
    assert all(b - a <= 10 * audio.SAMPLE_RATE for a, b in cuts) and cuts[-1][1] == total
    assert all(cuts[i][1] == cuts[i + 1][0] for i in range(len(cuts) - 1))


def test_an_unreachable_summary_endpoint_fails_the_job_and_charges_no_attempt(db, monkeypatch, capsys):
    with socket.socket() as s:       # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AURALINK_OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    monkeypatch.setenv("AURALINK_SUMMARY_MAX_RETRIES", "0")
    org = new_org(db)
    ids = [new_transcription(db, org, f"call {i}. we will send the report on monday.") for i in range(2)]
    with pytest.raises(JobFailed, match=rf"cannot reach the summary endpoint http://127.0.0.1:{port}/v1"):
        run_job("summarize_transcripts")
    assert db.execute("SELECT sum(summary_failures), count(summary_error) FROM transcriptions "
                      "WHERE id = ANY(%s)", (ids,)).fetchone() == (0, 0)
    assert db.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == 0
    from auralink.cli import main

    assert main(["jobs", "run", "summarize_transcripts"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the summary endpoint" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_sox_made_silence_is_no_speech_too(db, tmp_path):
    import subprocess

    flac = tmp_path / "sox-silence.flac"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "2", str(flac), "trim", "0.0", "30.0"], check=True)
    org = new_org(db)
    rec = new_recording(db, org, new_call(db, org), flac)
    assert run_job("transcribe_recordings")["no_speech"] == 1
    assert recording_state(db, rec) == ("no_speech", None)


def test_a_broken_model_is_one_line_from_the_cli_and_hands_the_batch_back(recordings_db, tmp_path, monkeypatch, capsys):
    from auralink.cli import main

    broken = tmp_path / "base.pt"
    broken.write_bytes(b"not a torch checkpoint")
    monkeypatch.setenv("AURALINK_STT_ENGINE", "whisper")
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(broken))
    assert main(["jobs", "run", "transcribe_recordings"]) == 1
    err = capsys.readouterr().err
    assert "cannot load whisper checkpoint" in err and "Traceback" not in err
    db = recordings_db["conn"]
    assert {r for (r,) in db.execute("SELECT DISTINCT status FROM call_recordings")} == {"pending"}
