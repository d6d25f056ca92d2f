"""Decode a recording into what every engine eats: mono float32 samples at 16 kHz.

WAV and FLAC go through soundfile (libsndfile, in-process); anything else (opus, ogg, mp3, m4a...)
through the ffmpeg binary, with a timeout so a pathological file cannot hang a worker.

Guards, all before or while decoding, each a :class:`RecordingFileError` with the reason:

- the duration is read from the header first (soundfile.info, ffprobe) and a recording longer than
  ``AURALINK_MAX_AUDIO_SECONDS`` (default 4 h) is refused without decoding it;
- a WAV whose header declares more audio than the file holds is corrupt (libsndfile would quietly read
  what is there, random bytes included), and so is a FLAC that decodes to fewer samples than it declares;
- WAV/FLAC are decoded block by block, mixed to mono and resampled per block (overlapping blocks, so
  the result equals resampling the whole signal at once): memory is the 16 kHz output plus one block.

:func:`has_speech` is the energy check for engines without a voice-activity detector of their own.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from math import ceil, gcd
from pathlib import Path

import numpy as np

from auralink import config
from auralink.recordings.storage import RecordingEmpty, RecordingFileError

SAMPLE_RATE = 16_000
_SOUNDFILE_SUFFIXES = {".wav", ".flac"}
DEFAULT_MAX_AUDIO_SECONDS = 4 * 3600
BLOCK_SECONDS = 30            # decoding block: small next to the output, large enough to be fast
FRAME = SAMPLE_RATE * 30 // 1000   # 30 ms energy frames
MIN_RATE, MAX_RATE, MAX_CHANNELS = 2_000, 384_000, 64


class CorruptRecording(RecordingFileError):
    pass


class RecordingTooLong(RecordingFileError):
    pass


def max_audio_seconds() -> float:
    """Longest recording the batch decodes (AURALINK_MAX_AUDIO_SECONDS, default 4 hours)."""
    raw = config.env("AURALINK_MAX_AUDIO_SECONDS")
    try:
        value = float(raw) if raw else DEFAULT_MAX_AUDIO_SECONDS
    except ValueError:
        raise ValueError(f"AURALINK_MAX_AUDIO_SECONDS must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"AURALINK_MAX_AUDIO_SECONDS must be positive, not {raw!r}")
    return value


def _too_long(seconds: float, limit: float) -> RecordingTooLong:
    return RecordingTooLong(f"recording is {seconds:,.0f} s long, over the {limit:,.0f}-second limit "
                            "(AURALINK_MAX_AUDIO_SECONDS); not decoded")


# --- headers -------------------------------------------------------------------------------------

def _check_wav_lengths(path: Path, file_size: int) -> None:
    """Refuse a RIFF/WAVE file whose data chunk claims more bytes than the file holds."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return   # RF64, RIFX or not a WAV at all: libsndfile judges it
        pos = 12
        for _ in range(64):   # chunks before 'data' are few (fmt, fact, LIST); never walk forever
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                held = file_size - (pos + 8)
                # 0 and 0xFFFFFFFF: a streaming writer that never went back to fill in the length.
                if size not in (0, 0xFFFFFFFF) and size > held + 1:
                    raise CorruptRecording(f"WAV header declares {size:,} bytes of audio but the file holds "
                                           f"{max(held, 0):,}: the file is truncated or corrupt")
                return
            pos += 8 + size + (size & 1)
            if pos >= file_size:
                return


@dataclass(frozen=True)
class AudioInfo:
    seconds: float | None        # None: the header does not say
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None


def probe(path: Path | str) -> AudioInfo:
    """What the header says (no decoding); raises CorruptRecording when there is no usable header."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise RecordingEmpty("recording file is empty (0 bytes)")
    if path.suffix.lower() not in _SOUNDFILE_SUFFIXES:
        return AudioInfo(_ffprobe_seconds(path))
    import soundfile as sf

    if path.suffix.lower() == ".wav":
        _check_wav_lengths(path, size)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise CorruptRecording(f"cannot decode {path.suffix.lstrip('.').upper()} audio: {exc}") from None
    # Outside these a header is corrupt (and would size the decoder's buffers from nonsense).
    if not (MIN_RATE <= info.samplerate <= MAX_RATE and 1 <= info.channels <= MAX_CHANNELS):
        raise CorruptRecording(f"{path.suffix.lstrip('.').upper()} header says {info.samplerate:,} Hz and "
                               f"{info.channels} channels (supported: {MIN_RATE:,}-{MAX_RATE:,} Hz, "
                               f"1-{MAX_CHANNELS} channels)")
    frames = info.frames if 0 < info.frames < 2**62 else None   # libsndfile's "unknown" is huge
    return AudioInfo(frames / info.samplerate if frames else None, info.samplerate, info.channels, frames)


def _ffprobe_seconds(path: Path) -> float | None:
    try:
        proc = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                               str(path)], capture_output=True, timeout=60, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None   # ffmpeg's own decode (with -t) still enforces the limit
    try:
        seconds = float(proc.stdout.decode(errors="replace").strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


# --- decoding ------------------------------------------------------------------------------------

class _Resampler:
    """Polyphase resampling of a stream, block by block, equal to ``resample_poly`` on the whole signal.

    Each block is filtered with ``pad`` input samples of context on both sides (a multiple of ``down``,
    at least the filter's half length), whose outputs are dropped; so only the true ends of the signal
    see resample_poly's zero padding, as in the one-shot call.
    """

    def __init__(self, rate: int, block: int):
        g = gcd(rate, SAMPLE_RATE)
        self.up, self.down = SAMPLE_RATE // g, rate // g
        half = 10 * max(self.up, self.down) / self.up            # resample_poly's filter half length
        self.pad = self.down * ceil((half + 1) / self.down)
        self.block = self.down * max(1, block // self.down)
        self.pending = np.zeros(0, dtype=np.float32)
        self.context = 0                                          # samples of left context in pending

    def _run(self, window: np.ndarray, keep_from: int, count: int) -> np.ndarray:
        from scipy.signal import resample_poly

        out = resample_poly(window, self.up, self.down)
        start = keep_from * self.up // self.down
        return out[start:start + count].astype(np.float32, copy=False)

    def feed(self, samples: np.ndarray) -> list[np.ndarray]:
        self.pending = np.concatenate([self.pending, samples]) if self.pending.size else samples
        outputs = []
        while self.pending.size - self.context >= self.block + self.pad:
            end = self.context + self.block
            outputs.append(self._run(self.pending[:end + self.pad], self.context,
                                     self.block * self.up // self.down))
            self.pending, self.context = self.pending[end - self.pad:], self.pad
        return outputs

    def finish(self) -> list[np.ndarray]:
        rest = self.pending.size - self.context
        if rest <= 0:
            return []
        return [self._run(self.pending, self.context, ceil(rest * self.up / self.down))]


def _decode_soundfile(path: Path, info: AudioInfo, limit: float) -> np.ndarray:
    import soundfile as sf

    kind = path.suffix.lstrip(".").upper()
    rate = int(info.sample_rate or SAMPLE_RATE)
    block = rate * BLOCK_SECONDS
    resampler = _Resampler(rate, block) if rate != SAMPLE_RATE else None
    expected = ceil((info.frames or 0) * SAMPLE_RATE / rate)
    out = np.empty(expected, dtype=np.float32) if expected else None   # filled in place: no second copy
    parts: list[np.ndarray] = []   # only when the header gave no length
    filled = frames_read = 0
    max_frames = int(limit * rate) + rate

    def put(chunk: np.ndarray) -> None:
        nonlocal out, filled
        if out is not None and filled + chunk.size <= out.size:
            out[filled:filled + chunk.size] = chunk
        else:
            if out is not None:      # longer than declared: keep going in pieces
                parts.append(out[:filled].copy())
                out = None
            parts.append(chunk)
        filled += chunk.size

    try:
        with sf.SoundFile(str(path)) as fh:
            while True:
                data = fh.read(block, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                frames_read += data.shape[0]
                if frames_read > max_frames:
                    raise _too_long(frames_read / rate, limit)
                mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
                for chunk in (resampler.feed(mono) if resampler else [mono]):
                    put(chunk)
        for chunk in (resampler.finish() if resampler else []):
            put(chunk)
    except RecordingFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise CorruptRecording(f"cannot decode {kind} audio: {exc}") from None
    if info.frames and frames_read < info.frames * 0.99:
        raise CorruptRecording(f"{kind} header declares {info.frames / rate:,.1f} s of audio but only "
                               f"{frames_read / rate:,.1f} s could be decoded: the file is truncated or corrupt")
    if out is not None:
        return out[:filled]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _decode_ffmpeg(path: Path, limit: float) -> np.ndarray:
    timeout = float(config.env("AURALINK_FFMPEG_TIMEOUT_SECONDS") or 600)
    # -t: never decode far past the limit, whatever the container claimed.
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path), "-t", f"{limit + 1:.3f}",
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
    pcm = np.frombuffer(proc.stdout, dtype=np.int16)
    if pcm.size > limit * SAMPLE_RATE:
        raise _too_long(pcm.size / SAMPLE_RATE, limit)
    return pcm.astype(np.float32) / 32768.0


def decode(path: Path | str) -> np.ndarray:
    """Mono float32 PCM in [-1, 1] at 16 kHz; raises a :class:`RecordingFileError` with a clear reason."""
    path = Path(path)
    limit = max_audio_seconds()
    info = probe(path)
    if info.seconds is not None and info.seconds > limit:
        raise _too_long(info.seconds, limit)
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        samples = _decode_soundfile(path, info, limit)
    else:
        samples = _decode_ffmpeg(path, limit)
    if samples.size == 0:
        raise RecordingEmpty("recording has no audio samples")
    if not _all_finite(samples):
        raise CorruptRecording("decoded audio contains non-finite samples")
    return samples


def _all_finite(samples: np.ndarray) -> bool:
    step = SAMPLE_RATE * 60   # a minute at a time: no full-size boolean temporary
    return all(np.isfinite(samples[i:i + step]).all() for i in range(0, samples.size, step))


def duration_seconds(samples: np.ndarray) -> float:
    return samples.size / SAMPLE_RATE


# --- energy --------------------------------------------------------------------------------------

def frame_levels(samples: np.ndarray) -> np.ndarray:
    """Level of each 30 ms frame in dBFS (RMS), computed a minute at a time."""
    n = samples.size // FRAME
    levels = np.empty(n, dtype=np.float32)
    step = (SAMPLE_RATE * 60 // FRAME) * FRAME
    for start in range(0, n * FRAME, step):
        stop = min(start + step, n * FRAME)
        block = samples[start:stop].reshape(-1, FRAME).astype(np.float64)
        rms = np.sqrt(np.mean(block * block, axis=1))
        levels[start // FRAME:stop // FRAME] = 20 * np.log10(np.maximum(rms, 1e-10))
    return levels


SPEECH_FLOOR_DB = -50.0     # quieter than this is silence whatever the recording's noise floor
SPEECH_ABOVE_NOISE_DB = 12  # speech stands out of the recording's own floor (its quietest tenth)
MIN_SPEECH_SECONDS = 0.3


def has_speech(levels: np.ndarray) -> bool:
    """Energy check: enough frames louder than both the absolute floor and the recording's noise floor.

    Digital silence, a constant hum or hiss (every frame near the floor) are no speech; speech has
    syllables well above the pauses between them.
    """
    if levels.size == 0:
        return False
    noise = float(np.percentile(levels, 10))
    active = np.count_nonzero(levels > max(SPEECH_FLOOR_DB, noise + SPEECH_ABOVE_NOISE_DB))
    return active * FRAME / SAMPLE_RATE >= MIN_SPEECH_SECONDS


def pieces(levels: np.ndarray, total: int, window_seconds: float) -> list[tuple[int, int]]:
    """[start, end) sample ranges of at most ``window_seconds`` covering the audio, each cut at the
    quietest frame of the last tenth of its window, so engines see long recordings a window at a time."""
    window = int(window_seconds * SAMPLE_RATE)
    if total <= window:
        return [(0, total)]
    out, start = [], 0
    while total - start > window:
        lo, hi = (start + window * 9 // 10) // FRAME, (start + window) // FRAME
        cut = (lo + int(np.argmin(levels[lo:hi]))) * FRAME if hi > lo else start + window
        cut = max(cut, start + FRAME)
        out.append((start, cut))
        start = cut
    out.append((start, total))
    return out
