"""Speech-to-text benchmark: real-time factor and word error rate per engine on synthesized calls.

Calls are the seed's twelve call scripts spoken by espeak-ng (two voices), decoded the way the batch job
decodes them. Every engine that can run here is measured; engines that cannot say why.

    .venv/bin/python bench/bench_transcription.py [--calls 12] [--voices en-us,en] [--threads 1]
        [--whisper-random-tiny]   # also time the openai-whisper code path on random tiny weights

RTF = processing seconds / audio seconds (lower is faster; 0.1 = ten times faster than real time),
excluding model load (printed separately). WER over all calls together.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path


def synthesize(scripts: list[str], voices: list[str], folder: Path) -> list[tuple[Path, str]]:
    calls = []
    for i, text in enumerate(scripts):
        voice = voices[i % len(voices)]
        out = folder / f"call_{i:02d}_{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text], check=True, capture_output=True)
        calls.append((out, text))
    return calls


def random_tiny_whisper(folder: Path) -> Path:
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)
    path = folder / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--voices", default="en-us,en")
    parser.add_argument("--threads", type=int, default=1, help="AURALINK_STT_THREADS for the engines")
    parser.add_argument("--whisper-random-tiny", action="store_true",
                        help="time openai-whisper on a random tiny checkpoint (speed only; WER meaningless)")
    args = parser.parse_args()
    os.environ["AURALINK_STT_THREADS"] = str(args.threads)

    from auralink.recordings import audio
    from auralink.recordings.engines import (
        EngineUnavailable,
        FasterWhisperEngine,
        PocketsphinxEngine,
        WhisperEngine,
    )
    from auralink.recordings.wer import word_error_rate

    scripts = resources.files("auralink.seed").joinpath("audio/scripts.txt").read_text().strip().splitlines()
    scripts = (scripts * (args.calls // len(scripts) + 1))[: args.calls]
    work = Path(tempfile.mkdtemp(prefix="bench-stt-"))
    calls = synthesize(scripts, args.voices.split(","), work)
    decoded = [(audio.decode(path), text) for path, text in calls]
    audio_seconds = sum(s.size for s, _ in decoded) / audio.SAMPLE_RATE
    print(f"{len(calls)} synthesized calls (espeak-ng, voices {args.voices}), {audio_seconds:.1f} s of audio, "
          f"{args.threads} thread(s), {os.cpu_count()} CPU(s)\n")

    candidates = [("pocketsphinx", PocketsphinxEngine, {}), ("faster-whisper", FasterWhisperEngine, {})]
    if os.environ.get("AURALINK_WHISPER_MODEL"):
        candidates.append(("whisper", WhisperEngine, {}))
    else:
        print("whisper: skipped (AURALINK_WHISPER_MODEL not set: no real weights on this machine)")
    if args.whisper_random_tiny:
        candidates.append(("whisper (random tiny, speed only)", WhisperEngine,
                           {"checkpoint": random_tiny_whisper(work), "sample_len": 32}))

    print(f"{'engine':36s} {'model':26s} {'load s':>7s} {'RTF':>6s} {'WER':>6s}")
    for label, cls, kwargs in candidates:
        try:
            started = time.monotonic()
            engine = cls(**kwargs)
            engine.transcribe(decoded[0][0][: audio.SAMPLE_RATE])  # load + warm up on one second
            load = time.monotonic() - started
        except EngineUnavailable as exc:
            print(f"{label:36s} unavailable: {exc}")
            continue
        processing, refs, hyps = 0.0, [], []
        for samples, text in decoded:
            started = time.monotonic()
            t = engine.transcribe(samples)
            processing += time.monotonic() - started
            refs.append(text)
            hyps.append(t.text)
        wer = word_error_rate(" ".join(refs), " ".join(hyps))
        wer_text = "n/a" if "random" in label else f"{wer:.1%}"
        print(f"{label:36s} {engine.model:26s} {load:7.2f} {processing / audio_seconds:6.3f} {wer_text:>6s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
