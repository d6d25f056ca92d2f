"""Property-based: any bytes given as a recording decode to samples or end in the project's own
RecordingFileError (with a reason), never another exception: random files, and real WAV/FLAC files
with their headers and data overwritten or cut short."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from auralink.recordings import audio
from auralink.recordings.storage import RecordingFileError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


def _real(fmt: str, rate: int, channels: int) -> bytes:
    t = np.arange(rate // 2) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.column_stack([tone] * channels), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


REAL = {".wav": [_real("WAV", 16_000, 1), _real("WAV", 44_100, 2)],
        ".flac": [_real("FLAC", 16_000, 1), _real("FLAC", 48_000, 2)]}


def _mutated(draw_data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(draw_data)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    return bytes(data[:cut] if cut is not None else data)


mutations = st.builds(
    lambda suffix, which, edits, cut: (suffix, _mutated(REAL[suffix][which], edits, cut)),
    st.sampled_from(sorted(REAL)), st.integers(0, 1),
    st.lists(st.tuples(st.integers(0, 80) | st.integers(0, 40_000), st.integers(0, 255)), max_size=12),
    st.none() | st.integers(0, 40_000))


def _decode(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"rec{suffix}"
        path.write_bytes(data)
        try:
            samples = audio.decode(path)
        except RecordingFileError as exc:
            assert str(exc)
            return
        assert samples.dtype == np.float32 and samples.ndim == 1 and samples.size > 0
        audio.has_speech(audio.frame_levels(samples))


@settings(max_examples=120, **SETTINGS)
@given(mutations)
def test_damaged_wav_and_flac_decode_or_fail_with_a_reason(case):
    _decode(*case)


@settings(max_examples=60, **SETTINGS)
@given(st.sampled_from([".wav", ".flac", ".WAV"]), st.binary(max_size=4_096)
       | st.builds(lambda magic, rest: magic + rest, st.sampled_from([b"RIFF", b"fLaC", b"RIFF\xff\xff\xff\xffWAVE"]),
                   st.binary(max_size=4_096)))
def test_random_bytes_as_wav_or_flac_fail_with_a_reason(suffix, data):
    _decode(suffix, data)


@settings(max_examples=15, **SETTINGS)
@given(st.sampled_from([".ogg", ".opus", ".mp3", ".m4a", ""]), st.binary(max_size=2_048))
def test_random_bytes_through_ffmpeg_fail_with_a_reason(suffix, data):
    _decode(suffix, data)
