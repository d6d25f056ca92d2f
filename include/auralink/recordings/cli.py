"""``auralink recordings ...``: the steps Argo workflows run in containers (and people run by hand).

    auralink recordings fetch --recording-id ID --out PATH
    auralink recordings transcribe --recording-id ID [--audio PATH] [--force]
    auralink recordings pending --batch-size N [--max-batches M]     # JSON for Argo withParam
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _error(msg: str, *, bad_item: bool = False):
    """A one-line CLI error; ``bad_item`` exits 3 (the recording itself is bad: Argo does not retry it)."""
    from auralink.cli import EXIT_BAD_ITEM, EXIT_FAILED, CliError

    return CliError(msg, EXIT_BAD_ITEM if bad_item else EXIT_FAILED)


def _recording(conn, recording_id: str) -> tuple[str, str]:
    row = conn.execute("SELECT storage_uri, status FROM call_recordings WHERE id = %s", (recording_id,)).fetchone()
    if row is None:
        raise _error(f"no recording {recording_id}", bad_item=True)
    return row


def _uuid(text: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a recording id (uuid): {text!r}") from None


def cmd_fetch(args: argparse.Namespace) -> int:
    from auralink.db.connection import connect
    from auralink.recordings import storage

    with connect(autocommit=True) as conn:
        uri, status = _recording(conn, args.recording_id)
    if status == "deleted":
        raise _error(f"recording {args.recording_id} was deleted")
    try:
        out = storage.fetch(uri, Path(args.out))
    except storage.RecordingFileError as exc:
        raise _error(f"recording {args.recording_id}: {exc}", bad_item=True) from None
    print(json.dumps({"recording_id": args.recording_id, "path": str(out), "bytes": out.stat().st_size}))
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from auralink.db.connection import connect
    from auralink.recordings import transcribe
    from auralink.recordings.engines import select_engine

    with connect() as conn:
        try:
            rec = transcribe.claim_one(conn, args.recording_id, claimed_by=transcribe.worker_id(), force=args.force)
        except (LookupError, RuntimeError) as exc:
            raise _error(str(exc)) from None
        if rec is None:   # handled before: transcribed, no speech, or skipped for want of consent
            status, skip_reason = conn.execute("SELECT status, skip_reason FROM call_recordings WHERE id = %s",
                                               (args.recording_id,)).fetchone()
            conn.commit()
            print(json.dumps({"recording_id": args.recording_id, "status": status, "skipped": True,
                              "reason": skip_reason or f"already {status.replace('_', ' ')} (use --force to redo)"}))
            return 0
        try:
            engine = select_engine(args.engine)
            engine.load()
        except Exception as exc:  # noqa: BLE001 - engine unavailable: hand the claim back, one-line error
            transcribe.release(conn, [rec.id])
            raise _error(str(exc)) from None
        try:
            outcome = transcribe.process(conn, engine, rec, audio_path=Path(args.audio) if args.audio else None)
        except BaseException:
            transcribe.release(conn, [rec.id])
            raise
    result: dict[str, Any] = {"recording_id": rec.id, "status": outcome.status, "reason": outcome.reason}
    if outcome.transcript is not None:
        t = outcome.transcript
        result.update(engine=t.engine, model=t.model, language=t.language, audio_seconds=round(t.audio_seconds, 3),
                      processing_seconds=round(t.processing_seconds, 3), segments=len(t.segments))
    print(json.dumps(result))
    if outcome.status == "failed":
        raise _error(f"recording {rec.id} failed: {outcome.reason}", bad_item=True)
    return 0


def cmd_pending(args: argparse.Namespace) -> int:
    from auralink.db.connection import connect
    from auralink.recordings.transcribe import pending_batches

    with connect(autocommit=True) as conn:
        batches = pending_batches(conn, args.batch_size, args.max_batches)
    print(json.dumps(batches))
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    rec = subparsers.add_parser("recordings", help="fetch and transcribe call recordings")
    sub = rec.add_subparsers(dest="recordings_command", required=True)

    p = sub.add_parser("fetch", help="download a recording's audio from its storage URI to a local file")
    p.add_argument("--recording-id", required=True, type=_uuid)
    p.add_argument("--out", required=True, help="local file to write (parent folders are created)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("transcribe", help="transcribe one recording and store the result")
    p.add_argument("--recording-id", required=True, type=_uuid)
    p.add_argument("--audio", help="an already downloaded audio file (default: read the storage URI)")
    p.add_argument("--engine", default=None, help="auto, whisper, faster-whisper or pocketsphinx "
                                                 "(default: AURALINK_STT_ENGINE or auto)")
    p.add_argument("--force", action="store_true", help="transcribe again even if already transcribed")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("pending", help="JSON list of batch descriptors for the recordings waiting (Argo withParam)")
    p.add_argument("--batch-size", type=_positive, default=50)
    p.add_argument("--max-batches", type=_positive, default=None)
    p.set_defaults(func=cmd_pending)
