"""Fixtures for the recordings tests: espeak-ng speech, and calls/recordings inserted with plain SQL.

Consent: the calls of ``new_call`` have guests only, and their host attested the guests' consent at the
start of the call (``attested=False`` leaves it out), so the transcription and summary tests process them
as before; the consent tests add members with ``new_user`` / ``join``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

SENTENCES = [
    "hello this is a short test call about the budget",
    "we will send the report to the team on monday",
    "please call me back tomorrow morning",
]

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def synthesize(text: str, out: Path, *, speed: int = 125, voice: str = "en-us") -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    for i, text in enumerate(SENTENCES):
        synthesize(text, folder / f"s{i}.wav")
    return folder


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-audio")
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    garbage = folder / "garbage.opus"
    garbage.write_bytes(b"\x00\x01garbage" * 100)
    return {"empty": empty, "corrupt": corrupt, "garbage": garbage, "missing": folder / "missing.wav"}


def new_org(conn, name: str = "Acme") -> str:
    org = str(uuid.uuid4())
    conn.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, %s, %s, 'pro')",
                 (org, name, f"org-{org[:8]}"))
    return org


def new_call(conn, org: str, *, samples: list[tuple[float, float, float]] | None = None, codec: str = "opus",
             participants: int = 1, attested: bool = True, at: dt.datetime = T0) -> str:
    """A five-minute call at ``at`` with ``participants`` guests (attested by the host unless told not to)."""
    call = str(uuid.uuid4())
    conn.execute("INSERT INTO calls (id, organization_id, started_at, ended_at, duration_seconds, "
                 "guest_consent_attested_at) VALUES (%s, %s, %s, %s, 300, %s)",
                 (call, org, at, at + dt.timedelta(minutes=5), at if attested else None))
    for p in range(participants):
        pid = conn.execute("INSERT INTO call_participants (call_id, display_name, participant_role, joined_at) "
                           "VALUES (%s, %s, 'guest', %s) RETURNING id", (call, f"guest {p}", at)).fetchone()[0]
        for i, (rtt, jitter, loss) in enumerate(samples or []):
            conn.execute("INSERT INTO call_quality_samples (call_id, participant_id, sampled_at, rtt_ms, jitter_ms, "
                         "packet_loss, codec) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (call, pid, at + dt.timedelta(seconds=10 * i), rtt, jitter, loss, codec))
    return call


AI_PURPOSES = ("recording", "transcription", "ai_processing")


def new_user(conn, org: str, *, grant: tuple[str, ...] = AI_PURPOSES, refuse: tuple[str, ...] = (),
             at: dt.datetime = T0 - dt.timedelta(days=30)) -> str:
    """A member of ``org`` who granted (or refused) the given purposes at ``at``."""
    user = str(uuid.uuid4())
    conn.execute("INSERT INTO users (id, email, full_name) VALUES (%s, %s, 'Test User')", (user, f"{user[:8]}@example.com"))
    conn.execute("INSERT INTO organization_members (organization_id, user_id) VALUES (%s, %s)", (org, user))
    for purpose, granted in [(p, True) for p in grant] + [(p, False) for p in refuse]:
        conn.execute("INSERT INTO consents (user_id, organization_id, purpose, granted, recorded_at) "
                     "VALUES (%s, %s, %s, %s, %s)", (user, org, purpose, granted, at))
    return user


def join(conn, call: str, user: str, *, role: str = "participant", at: dt.datetime = T0) -> int:
    """``user`` joins ``call`` at ``at`` (the host also becomes the call's initiator)."""
    if role == "host":
        conn.execute("UPDATE calls SET initiated_by = %s WHERE id = %s", (user, call))
    return conn.execute("INSERT INTO call_participants (call_id, user_id, display_name, participant_role, joined_at) "
                        "VALUES (%s, %s, 'Test User', %s, %s) RETURNING id", (call, user, role, at)).fetchone()[0]


def new_recording(conn, org: str, call: str, path: Path | str) -> str:
    rec = str(uuid.uuid4())
    uri = path if isinstance(path, str) else Path(path).resolve().as_uri()
    conn.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, codec) "
                 "VALUES (%s, %s, %s, %s, 'pcm')", (rec, call, org, uri))
    return rec


GOOD_SAMPLES = [(80.0, 5.0, 0.001)] * 6


@pytest.fixture
def recordings_db(db, speech_dir):
    """An org with one call per synthesized sentence, each with a pending recording and quality samples."""
    org = new_org(db)
    ids = []
    for wav in sorted(speech_dir.glob("s*.wav")):
        call = new_call(db, org, samples=GOOD_SAMPLES)
        ids.append(new_recording(db, org, call, wav))
    return {"org": org, "recordings": ids, "conn": db}


def new_transcription(conn, org: str, text: str, *, redacted: bool = True, call: str | None = None) -> int:
    """A transcribed recording with the given text (no audio needed), of ``call`` or a new guests' call."""
    from auralink.recordings.redaction import redact

    call = call or new_call(conn, org)
    rec = new_recording(conn, org, call, "file:///nonexistent/already-transcribed.wav")
    conn.execute("UPDATE call_recordings SET status = 'transcribed' WHERE id = %s", (rec,))
    return conn.execute(
        "INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, language, text, "
        "redacted_text) VALUES (%s, %s, %s, 'pocketsphinx', 'pocketsphinx-en-us', 'en', %s, %s) RETURNING id",
        (rec, call, org, text, redact(text).text if redacted else None)).fetchone()[0]
