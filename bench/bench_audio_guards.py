"""Audio guards on a long silent recording: time and peak memory of decoding and "transcribing" it.

A 2-hour silent FLAC is generated with numpy + soundfile (written a block at a time), then each step runs
in a fresh process so its peak RSS (ru_maxrss) is its own:

- ``decode``: the block-by-block decoder alone (16 kHz mono float32 output);
- ``<engine>``: what the batch job does with it (``transcribe.transcribe_file``): decode, the energy
  check or the engine's own VAD, the engine on 10-minute windows. Silence ends as no speech.

    .venv/bin/python bench/bench_audio_guards.py [--hours 2] [--rate 16000] [--channels 1]
        [--engines pocketsphinx,faster-whisper]

Before these guards, faster-whisper "transcribed" the same file as "you you you ..." in 160 s at a
6.7 GB peak and billed 120 STT minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_silence(path: Path, hours: float, rate: int, channels: int) -> None:
    import numpy as np
    import soundfile as sf

    block = np.zeros((rate * 60, channels), dtype=np.int16)   # a minute at a time: no 2-hour array
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as fh:
        for _ in range(int(hours * 60)):
            fh.write(block)


def child(step: str, path: str) -> None:
    """One measured step (run as a subprocess by main)."""
    os.environ.setdefault("AURALINK_MAX_AUDIO_SECONDS", str(24 * 3600))
    started = time.monotonic()
    result: dict = {"step": step}
    if step == "decode":
        from auralink.recordings import audio

        samples = audio.decode(path)
        result["audio_seconds"] = round(audio.duration_seconds(samples), 1)
        result["speech"] = bool(audio.has_speech(audio.frame_levels(samples)))
    else:
        from auralink.recordings.engines import select_engine
        from auralink.recordings.transcribe import no_speech_reason, transcribe_file

        engine = select_engine(step)
        engine.load()
        loaded = time.monotonic()
        t = transcribe_file(engine, Path(path))
        result.update(model=engine.model, load_seconds=round(loaded - started, 1), text=t.text[:60],
                      outcome=no_speech_reason(t) if not t.text.strip() else "transcribed")
    result["seconds"] = round(time.monotonic() - started, 1)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=int, default=16_000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--engines", default="pocketsphinx,faster-whisper")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="auralink-bench-") as tmp:
        path = Path(tmp) / "silence.flac"
        started = time.monotonic()
        make_silence(path, args.hours, args.rate, args.channels)
        print(f"{args.hours:g} h of silence, {args.rate} Hz x {args.channels}: {path.stat().st_size / 2**20:.1f} MiB FLAC "
              f"written in {time.monotonic() - started:.1f} s")
        for step in ["decode", *[e.strip() for e in args.engines.split(",") if e.strip()]]:
            proc = subprocess.run([sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True,
                                  check=False)
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            if proc.returncode != 0 or not line.startswith("{"):
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"{step:15s} could not run: {tail}")
                continue
            r = json.loads(line)
            extra = (f"audio {r['audio_seconds']:,.0f} s, speech found: {r['speech']}" if step == "decode"
                     else f"{r['model']}, load {r['load_seconds']} s -> {r['outcome']}")
            print(f"{step:15s} {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mib']:6,d} MiB  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
