"""Decode a recording into what every engine eats: mono float32 samples at 16 kHz.

WAV and FLAC go through soundfile (libsndfile, in-process); anything else (opus, ogg, mp3, m4a...)
through the ffmpeg binary, with a timeout so a pathological file cannot hang a worker.
"""

from __future__ import annotations

import subprocess
from math import gcd
from pathlib import Path

import numpy as np

from auralink import config
from auralink.recordings.storage import RecordingEmpty, RecordingFileError

SAMPLE_RATE = 16_000
_SOUNDFILE_SUFFIXES = {".wav", ".flac"}


class CorruptRecording(RecordingFileError):
    pass


def _to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    samples = samples.astype(np.float32, copy=False)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return samples


def _decode_soundfile(path: Path) -> np.ndarray:
    import soundfile as sf

    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise CorruptRecording(f"cannot decode {path.suffix.lstrip('.').upper()} audio: {exc}") from None
    return _to_mono_16k(np.asarray(samples), int(rate))


def _decode_ffmpeg(path: Path) -> np.ndarray:
    timeout = float(config.env("AURALINK_FFMPEG_TIMEOUT_SECONDS") or 600)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
           "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise RecordingFileError("ffmpeg is not installed (needed to decode "
                                 f"{path.suffix or 'this'} audio; apt-get install ffmpeg)") from None
    except subprocess.TimeoutExpired:
        raise CorruptRecording(f"ffmpeg did not finish decoding within {timeout:.0f} s") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise CorruptRecording(f"ffmpeg cannot decode the file: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
    return np.frombuffer(proc.stdout, dtype=np.int16).astype(np.float32) / 32768.0


def decode(path: Path | str) -> np.ndarray:
    """Mono float32 PCM in [-1, 1] at 16 kHz; raises a :class:`RecordingFileError` with a clear reason."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise RecordingEmpty("recording file is empty (0 bytes)")
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        samples = _decode_soundfile(path)
    else:
        samples = _decode_ffmpeg(path)
    if samples.size == 0:
        raise RecordingEmpty("recording has no audio samples")
    if not np.isfinite(samples).all():
        raise CorruptRecording("decoded audio contains non-finite samples")
    return samples


def duration_seconds(samples: np.ndarray) -> float:
    return samples.size / SAMPLE_RATE
