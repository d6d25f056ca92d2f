"""Realistic synthetic data for every table, deterministic for a (seed, end_date), bulk-loaded with COPY.

Scale knobs: organizations, days, audit events per user-day. The plan mix (60% free, 30% pro, 10%
enterprise; the first three organizations are one of each so small seeds cover every plan), user counts,
call volumes (business hours in the organization's time zone, fewer at weekends, and a few calls around
local midnight; the first seven organizations are in Asia/Tokyo, Pacific/Honolulu, Pacific/Auckland, UTC,
America/New_York, Europe/Berlin and Asia/Kolkata), log-normal call durations, a bad-network tail (~8% of calls), AI usage by feature priced from the price book, and the
suspicious audit patterns the security rules look for are in :mod:`auralink.seed.vocab`.

usage_records are per-participant-minute metering (``call_minutes``), one ``ai_calls`` record per AI
event, and hourly ``storage_gb_hours``: about 10 million rows for 400 organizations over 90 days.

Recordings point at real speech: twelve short calls synthesized with espeak-ng and shipped as FLAC in
``auralink/seed/audio`` (their scripts in ``scripts.txt``), hard-linked per recording under
AURALINK_HOME/recordings. About 3% are deliberately bad (empty, garbage bytes, missing) so the
transcription job meets real failures.

Consent (what transcription and summaries need, :mod:`auralink.recordings.consent`): every member grants
recording, transcription and AI processing at sign-up, and the host attests the guests' consent at the
start of a call with guests, so most recordings are processed. A few exceptions are planted, drawn from a
stream of their own (the rest of the data is the same as without them), among members with few recorded
calls so the skips stay few: one recorded call with guests per organization whose host did not attest;
in the first organization (enterprise, ``ai_consent_default = 'allow'`` as for every enterprise one) a
member with no consent on record (processed by the default), a transcription consent withdrawn mid-window
and an AI-processing refusal; in the second (pro) a recording refusal and a consent first given after the
member's first recorded call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import queue
import random
import shutil
import threading
import uuid
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from auralink import config, crypto
from auralink.db.connection import connect, database_url, scalar
from auralink.db.migrate import migrate
from auralink.pricing import load_price_book
from auralink.seed import vocab

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
AI_PURPOSES = ("recording", "transcription", "ai_processing")   # what transcription and summaries need


class SeedError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class SeedConfig:
    orgs: int = 10
    days: int = 14
    seed: int = 42
    end_date: dt.date | None = None          # last day of data; default today (UTC)
    audio: bool = True                       # link real speech files for recordings
    audit_events_per_user_day: float = 4.0
    recording_share: float = 0.15            # share of completed calls over a minute that were recorded
    bad_recording_share: float = 0.03

    def __post_init__(self) -> None:
        if self.orgs < 1 or self.days < 1:
            raise ValueError("seed needs at least one organization and one day")
        if self.audit_events_per_user_day < 0:
            raise ValueError("audit_events_per_user_day must be >= 0")

    @property
    def last_day(self) -> dt.date:
        return self.end_date or dt.datetime.now(dt.UTC).date()

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)


# --- helpers --------------------------------------------------------------------------------------

def _uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def _ts(seconds: float) -> str:
    return (EPOCH + dt.timedelta(seconds=float(seconds))).isoformat()


def _ts_array(seconds: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "+00")


def _epoch(day: dt.date) -> int:
    return int((dt.datetime.combine(day, dt.time(), dt.UTC) - EPOCH).total_seconds())


class _Copier:
    """Bulk loader: COPY statements run on a writer thread, in submission order, while the generator
    builds the next organization (Postgres time and Python time overlap instead of adding up).

    ``columns`` takes numpy/list columns whose values never contain tabs, newlines or backslashes
    (text-format COPY); ``rows`` takes tuples of any values (psycopg adapts them).
    """

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.counts: dict[str, int] = defaultdict(int)
        self._queue: queue.Queue = queue.Queue(maxsize=32)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="seed-copy-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                if self._error is None:
                    task(self.conn)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the generator thread
                self._error = exc
            finally:
                self._queue.task_done()

    def submit(self, task) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(task)

    def flush(self) -> None:
        """Wait until everything submitted is in the database (re-raising a writer error)."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def rows(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"

        def copy(conn: psycopg.Connection) -> None:
            with conn.cursor().copy(sql) as cp:
                for row in rows:
                    cp.write_row(row)

        self.submit(copy)
        self.counts[table] += len(rows)

    def columns(self, table: str, names: list[str], cols: list[Any]) -> None:
        n = len(cols[0])
        if n == 0:
            return
        text_cols = [c if isinstance(c, np.ndarray) and c.dtype.kind == "U" else np.asarray(c).astype(str) for c in cols]
        payload = ("\n".join("\t".join(vals) for vals in zip(*text_cols)) + "\n").encode()
        sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"

        def copy(conn: psycopg.Connection) -> None:
            with conn.cursor().copy(sql) as cp:
                cp.write(payload)

        self.submit(copy)
        self.counts[table] += n


def _speech_files() -> list[tuple[Path, float, int]]:
    """(path, seconds, bytes) of the shipped speech clips."""
    import soundfile

    folder = resources.files("auralink.seed").joinpath("audio")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".flac"):
            path = Path(str(entry))
            out.append((path, round(soundfile.info(str(path)).duration, 3), path.stat().st_size))
    return out


def speech_scripts() -> list[str]:
    """What each shipped clip says, in clip order (the WER reference)."""
    return resources.files("auralink.seed").joinpath("audio/scripts.txt").read_text().strip().splitlines()


def _place_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:  # another filesystem: copy
        shutil.copyfile(src, dest)


# --- the generator --------------------------------------------------------------------------------

class _Generator:
    def __init__(self, cfg: SeedConfig, copier: _Copier, key: bytes):
        self.cfg = cfg
        self.cp = copier
        self.key = key
        self.start = _epoch(cfg.first_day)
        self.end = _epoch(cfg.last_day) + 86400
        self.prices = load_price_book()
        self.speech = _speech_files() if cfg.audio else []
        self.recordings_dir = config.data_dir("recordings") if cfg.audio else None
        self.participant_id = 0
        self.role_ids: dict[str, int] = {}

    # global rows: built-in roles and their casbin policies
    def system_roles(self) -> None:
        conn = self.cp.conn
        for name, perms in vocab.ROLE_PERMISSIONS.items():
            role_id = scalar(
                conn, """INSERT INTO rbac_roles (organization_id, name, description, permissions, is_system)
                   VALUES (NULL, %s, %s, %s, true) RETURNING id""",
                (name, f"Built-in {name.replace('_', ' ')} role",
                 json.dumps([f"{obj}:{act}" for obj, act in perms])),
            )
            self.role_ids[name] = role_id
        self.cp.counts["rbac_roles"] += len(vocab.ROLE_PERMISSIONS)
        self.cp.rows("casbin_rule", ["ptype", "v0", "v1", "v2"],
                     [("p", role, obj, act) for role, perms in vocab.ROLE_PERMISSIONS.items() for obj, act in perms])

    def organization(self, index: int) -> None:
        cfg = self.cfg
        r = random.Random(cfg.seed * 1_000_003 + index)
        rng = np.random.default_rng([cfg.seed, index])
        plan = ["enterprise", "pro", "free"][index] if index < 3 else r.choices(
            list(vocab.PLAN_MIX), weights=list(vocab.PLAN_MIX.values()))[0]
        drawn = r.choice(vocab.TIMEZONES)   # drawn for every organization, so the later draws stay as they were
        tz, offset, country = vocab.SEED_ZONES[index] if index < len(vocab.SEED_ZONES) else drawn
        name = f"{r.choice(vocab.ORG_WORDS_A)} {r.choice(vocab.ORG_WORDS_B)}"
        slug = f"{name.lower().replace(' ', '-')}-{index}"
        org_id = _uuid(r)
        org_created = self.start - r.randint(30, 900) * 86400
        # Enterprise agreements cover their members: a missing consent record means 'allow' there.
        self.cp.rows("organizations", ["id", "name", "slug", "plan", "timezone", "country", "created_at",
                                       "ai_consent_default"],
                     [(org_id, name, slug, plan, tz, country, _ts(org_created),
                       "allow" if plan == "enterprise" else "deny")])
        # The consent exceptions draw from their own stream, so planting them changes nothing else.
        self.plants = random.Random(f"auralink-consent-plants:{cfg.seed}:{index}")
        # Calls around local midnight draw from their own stream too.
        self.night = random.Random(f"auralink-local-midnight:{cfg.seed}:{index}")
        self.zone = ZoneInfo(tz)

        users = self._users(r, plan, slug, country, org_created)
        self._subscriptions(r, org_id, plan, org_created, len(users))
        self._members_roles_consents(r, org_id, users)
        calls = self._calls(r, rng, org_id, slug, plan, offset, country, users)
        self._ai_usage(r, rng, org_id, plan, offset, users, calls)
        self._storage_usage(rng, org_id, plan)
        self._audit(r, rng, org_id, offset, country, users, plant_all=index == 0)
        self._enterprise(r, index, org_id, plan, users, org_created)
        self._consents(index, org_id, calls)

    def _users(self, r, plan, slug, country, org_created) -> list[dict]:
        lo, hi, _ = vocab.PLAN_SHAPE[plan]
        users = []
        for n in range(r.randint(lo, hi)):
            first, last = r.choice(vocab.FIRST_NAMES), r.choice(vocab.LAST_NAMES)
            created = org_created + r.randint(0, max(1, (self.start - org_created) // 86400)) * 86400
            users.append({
                "id": _uuid(r), "first": first, "last": last,
                "email": f"{first}.{last}.{n}@{slug}.example".lower(),
                "phone": f"+1-555-{r.randint(100, 999)}-{r.randint(1000, 9999)}",
                "created": created, "ip": f"{r.randint(23, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                "role": "owner" if n == 0 else ("admin" if r.random() < 0.07 or n == 1 else
                                                ("viewer" if r.random() < 0.1 else "member")),
            })
        self.cp.rows("users", ["id", "email", "full_name", "phone", "country", "created_at", "last_login_at"],
                     [(u["id"], u["email"], f"{u['first']} {u['last']}", u["phone"], country, _ts(u["created"]),
                       _ts(self.end - r.randint(3600, 5 * 86400))) for u in users])
        return users

    def _subscriptions(self, r, org_id, plan, org_created, n_users) -> None:
        rows: list[tuple[Any, ...]] = []
        if self.cfg.days >= 10 and r.random() < 0.08:   # a plan change inside the window
            change = self.start + r.randint(3, self.cfg.days - 3) * 86400
            previous = {"free": "pro", "pro": r.choice(["free", "enterprise"]), "enterprise": "pro"}[plan]
            rows.append((org_id, previous, "canceled", n_users, _ts(org_created), _ts(change)))
            rows.append((org_id, plan, "active", n_users, _ts(change), None))
        else:
            rows.append((org_id, plan, "active", n_users, _ts(org_created), None))
        self.cp.rows("subscriptions", ["organization_id", "plan", "status", "seats", "started_at", "ended_at"], rows)

    def _members_roles_consents(self, r, org_id, users) -> None:
        self.cp.rows("organization_members", ["organization_id", "user_id", "member_role", "joined_at"],
                     [(org_id, u["id"], u["role"], _ts(u["created"])) for u in users])
        assignments, grules = [], []
        for i, u in enumerate(users):
            roles = [u["role"]] + (["billing_admin"] if i == 1 else []) + (["compliance_officer"] if i == 2 else [])
            for role in roles:
                assignments.append((u["id"], org_id, self.role_ids[role], _ts(u["created"])))
                grules.append(("g", u["id"], role))
        self.cp.rows("user_role_assignments", ["user_id", "organization_id", "role_id", "granted_at"], assignments)
        self.cp.rows("casbin_rule", ["ptype", "v0", "v1"], grules)
        # Written by _consents once the calls are known (the planted exceptions pick members by their calls).
        # Recording, transcription and AI processing are granted at sign-up (the draw is still taken, so
        # every later draw is what it always was); the exceptions are planted.
        self.consent_rows: list[list[Any]] = []
        for u in users:
            for purpose, share in (("recording", 0.97), ("transcription", 0.95), ("ai_processing", 0.9),
                                   ("analytics", 0.8), ("marketing", 0.3)):
                drawn = r.random() < share
                self.consent_rows.append([u["id"], org_id, purpose, drawn or purpose in AI_PURPOSES,
                                          u["created"], None])

    def _consents(self, index, org_id, calls) -> None:
        """The consents, with the planted exceptions (see the module docstring); deterministic per seed."""
        p = self.plants
        recorded: dict[str, list[dict]] = defaultdict(list)   # member -> their recorded calls, in time order
        for call in sorted((c for c in calls if c["recorded"]), key=lambda c: (c["started"], c["id"])):
            for member in call["members"]:
                recorded[member].append(call)
        # Members with few recorded calls (one or two), so each exception skips little.
        few = sorted(recorded, key=lambda u: (len(recorded[u]), u))
        few = [u for u in few if len(recorded[u]) <= 2]
        p.shuffle(few)
        chosen: set[str] = set()

        def pick(ok=lambda u: True) -> str | None:
            for u in few:
                if u not in chosen and ok(u):
                    chosen.add(u)
                    return u
            return None

        def rows_of(user: str, purposes=AI_PURPOSES) -> list[list[Any]]:
            return [row for row in self.consent_rows if row[0] == user and row[2] in purposes]

        mid = self.start + (self.end - self.start) // 2
        if index == 0:     # the first organization is always enterprise
            silent = pick()
            if silent:   # no consent on record: the organization's default ('allow') covers them
                self.consent_rows = [row for row in self.consent_rows if not (row[0] == silent and row[2] in AI_PURPOSES)]
            quitter = pick()
            if quitter:  # withdraws transcription consent mid-window: calls before and after are skipped
                rows_of(quitter, ("transcription",))[0][5] = mid + p.randint(0, 3600)
            # refuses AI processing at sign-up: transcribed, never summarised; picked among the latest
            # recorded calls, so the earliest recordings of a small seed keep their summaries
            late = sorted((u for u in few if u not in chosen), key=lambda u: -recorded[u][0]["started"])
            if late:
                chosen.add(late[0])
                rows_of(late[0], ("ai_processing",))[0][3] = False
        elif index == 1:   # and the second pro
            refuser = pick()
            if refuser:
                rows_of(refuser, ("recording",))[0][3] = False
            newcomer = pick(lambda u: len(recorded[u]) == 2)
            if newcomer:  # first answers after their first recorded call: that one is skipped, the next is not
                first_end = recorded[newcomer][0]["ended"]
                for row in rows_of(newcomer):
                    row[4] = max(row[4], first_end + 3600)
        self.cp.rows("consents", ["user_id", "organization_id", "purpose", "granted", "recorded_at", "withdrawn_at"],
                     [(u, o, purpose, granted, _ts(at), None if gone is None else _ts(gone))
                      for u, o, purpose, granted, at, gone in self.consent_rows])

    def _day_starts(self) -> list[tuple[int, float]]:
        """(day start epoch, activity factor) for each day: weekends are quieter."""
        out = []
        for d in range(self.cfg.days):
            day = self.cfg.first_day + dt.timedelta(days=d)
            out.append((_epoch(day), 0.3 if day.weekday() >= 5 else 1.0))
        return out

    def _business_time(self, r, day_start, offset) -> int:
        local_hour = min(22.0, max(6.0, r.gauss(13.0, 2.6)))
        return int(day_start + ((local_hour - offset) % 24) * 3600 + r.randint(0, 59))

    def _around_local_midnight(self, day_start: int) -> int:
        """A time within 45 minutes of a local midnight (the zone's offset that day), in the same UTC day."""
        noon = dt.datetime.fromtimestamp(day_start + 43200, tz=dt.UTC).astimezone(self.zone)
        offset = noon.utcoffset().total_seconds() / 3600 if noon.utcoffset() else 0.0
        return int(day_start + ((self.night.uniform(23.25, 24.75) - offset) % 24) * 3600)

    def _calls(self, r, rng, org_id, slug, plan, offset, country, users) -> list[dict]:
        _, _, rate = vocab.PLAN_SHAPE[plan]
        region = r.choice(vocab.REGIONS)
        codec_names, codec_p = list(vocab.CODECS), list(vocab.CODECS.values())
        calls, call_rows, part_rows, rec_rows = [], [], [], []
        samples: list[tuple] = []   # (participant_id, call_id, start, end, bad, codec)
        for day_start, factor in self._day_starts():
            for _ in range(int(rng.poisson(len(users) * rate * factor))):
                started = self._business_time(r, day_start, offset)
                if self.night.random() < vocab.LOCAL_MIDNIGHT_CALL_SHARE:
                    started = self._around_local_midnight(day_start)
                status = r.choices(["completed", "missed", "failed"], weights=[90, 6, 4])[0]
                duration = (int(min(7200, max(20, r.lognormvariate(math.log(360), 0.9)))) if status == "completed"
                            else (0 if status == "missed" else r.randint(5, 60)))
                host = r.choice(users)
                call = {"id": _uuid(r), "started": started, "ended": started + duration, "duration": duration,
                        "status": status, "host": host["id"], "type": r.choices(["audio", "video", "screen_share"], [55, 40, 5])[0]}
                calls.append(call)
                n_part = 1 if status != "completed" else min(2 + int(rng.poisson(1.2)), 8)
                others = r.sample([u for u in users if u is not host], min(n_part - 1, len(users) - 1))
                members = [(host, "host")] + [(u, "participant") for u in others]
                guests = n_part - len(members) + (1 if status == "completed" and r.random() < 0.1 else 0)
                bad = r.random() < 0.08
                codec = str(rng.choice(codec_names, p=codec_p))
                for who, role in members + [(None, "guest")] * guests:
                    self.participant_id += 1
                    joined = started + r.randint(0, min(30, duration // 4 + 1))
                    left = max(joined, started + duration - r.randint(0, min(30, duration // 4 + 1)))
                    part_rows.append((self.participant_id, call["id"], who["id"] if who else None,
                                      f"{who['first']} {who['last']}" if who else f"Guest {r.randint(100, 999)}",
                                      role, _ts(joined), _ts(left), who["ip"] if who else
                                      f"{r.randint(23, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                                      country if who else r.choice(["US", "GB", "DE", "FR", "IN", "BR"])))
                    if status == "completed":
                        samples.append((self.participant_id, call["id"], joined, left, bad, codec))
                call["members"] = [who["id"] for who, _ in members]
                call["recorded"] = status == "completed" and duration > 60 and r.random() < self.cfg.recording_share
                if call["recorded"]:
                    rec_rows.append(self._recording(r, org_id, slug, call))
                # The host attests the guests' consent as the call starts (one recorded call goes without, below).
                call["guests"] = guests
                call_rows.append([call["id"], org_id, host["id"], call["type"], status, region, _ts(started),
                                  _ts(started + duration), duration, _ts(started),
                                  _ts(started) if guests else None, host["id"] if guests else None])
        with_guests = [i for i, c in enumerate(calls) if c["recorded"] and c["guests"]]
        if with_guests:   # the planted exception: a recorded call whose host never attested the guests' consent
            unattested = call_rows[self.plants.choice(with_guests)]
            unattested[-2:] = [None, None]
        self.cp.rows("calls", ["id", "organization_id", "initiated_by", "call_type", "status", "region", "started_at",
                               "ended_at", "duration_seconds", "created_at", "guest_consent_attested_at",
                               "guest_consent_attested_by"], call_rows)
        self.cp.rows("call_participants", ["id", "call_id", "user_id", "display_name", "participant_role", "joined_at",
                                           "left_at", "ip_address", "country"], part_rows)
        self._quality_and_minutes(rng, org_id, samples)
        self.cp.rows("call_recordings", ["id", "call_id", "organization_id", "storage_uri", "duration_seconds", "codec",
                                         "sample_rate_hz", "size_bytes", "status", "created_at"], rec_rows)
        return calls

    def _recording(self, r, org_id, slug, call) -> tuple:
        rec_id = _uuid(r)
        kind = "ok" if r.random() >= self.cfg.bad_recording_share else r.choice(["empty", "garbage", "missing"])
        clip = r.randrange(12)
        if not self.speech:
            return (rec_id, call["id"], org_id, f"s3://auralink-recordings/{slug}/{rec_id}.flac", None, "flac",
                    16000, None, "pending", _ts(call["ended"]))
        src, seconds, size = self.speech[clip % len(self.speech)]
        dest = self.recordings_dir / slug / f"{rec_id}.flac"
        if kind == "ok":
            _place_file(src, dest)
        elif kind == "empty":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(b"")
            size = 0
        elif kind == "garbage":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(random.Random(rec_id).randbytes(4096))
            size = 4096
        # "missing": the row points at a file that was never written
        return (rec_id, call["id"], org_id, dest.as_uri(), seconds, "flac", 16000, size, "pending", _ts(call["ended"]))

    def _quality_and_minutes(self, rng, org_id, samples) -> None:
        """Quality samples (up to 5 per participant, evenly spaced) and per-minute call metering."""
        if not samples:
            return
        pid = np.array([s[0] for s in samples], dtype=np.int64)
        call_ids = np.array([s[1] for s in samples])
        joined = np.array([s[2] for s in samples], dtype=np.int64)
        left = np.array([s[3] for s in samples], dtype=np.int64)
        bad = np.array([s[4] for s in samples])
        codec = np.array([s[5] for s in samples])
        dur = np.maximum(left - joined, 1)

        n = np.clip(dur // 60, 1, 5)
        idx = np.repeat(np.arange(len(pid)), n)
        k = np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)
        at = joined[idx] + (dur[idx] * (k + 0.5) / n[idx]).astype(np.int64)
        m = len(idx)
        is_bad = bad[idx]
        rtt = np.where(is_bad, rng.normal(430, 120, m), rng.lognormal(math.log(70), 0.45, m)).clip(5, 2000)
        jitter = np.where(is_bad, rng.normal(40, 15, m), rng.gamma(2.0, 4.0, m)).clip(0.2, 300)
        loss = np.where(is_bad, rng.uniform(0.015, 0.12, m), rng.beta(0.6, 250, m)).clip(0, 1)
        self.cp.columns("call_quality_samples",
                        ["call_id", "participant_id", "sampled_at", "rtt_ms", "jitter_ms", "packet_loss", "codec", "bitrate_kbps"],
                        [call_ids[idx], pid[idx], _ts_array(at), np.round(rtt, 2), np.round(jitter, 2),
                         np.round(loss, 5), codec[idx], np.where(codec[idx] == "opus", 32, 64)])

        chunks = (dur + 59) // 60
        cidx = np.repeat(np.arange(len(pid)), chunks)
        c = np.arange(len(cidx)) - np.repeat(np.cumsum(chunks) - chunks, chunks)
        qty = np.minimum(60, dur[cidx] - c * 60) / 60.0
        rec_at = joined[cidx] + c * 60
        keys = np.char.add(np.char.add(np.char.add("cm:", pid[cidx].astype(str)), ":"), c.astype(str))
        self.cp.columns("usage_records", ["organization_id", "user_id", "metric", "quantity", "recorded_at",
                                          "received_at", "idempotency_key", "source"],
                        [np.full(len(cidx), org_id), np.full(len(cidx), "\\N"), np.full(len(cidx), "call_minutes"),
                         np.round(qty, 4), _ts_array(rec_at), _ts_array(rec_at + 60), keys,
                         np.full(len(cidx), "media-server")])

    def _ai_usage(self, r, rng, org_id, plan, offset, users, calls) -> None:
        features = ["stt", "llm", "tts"] + ([] if plan == "free" else ["agents"])
        weights = [35, 40, 15] + ([] if plan == "free" else [10])
        rows, usage = [], []
        calls_by_day: dict[int, list[str]] = defaultdict(list)
        for call in calls:
            calls_by_day[(call["started"] - self.start) // 86400].append(call["id"])
        for d, (day_start, factor) in enumerate(self._day_starts()):
            for k in range(int(rng.poisson(len(users) * vocab.AI_RATE[plan] * factor))):
                feature = r.choices(features, weights)[0]
                options = vocab.AI_MODELS[feature]
                provider, model, _ = r.choices(options, [o[2] for o in options])[0]
                price = self.prices[(feature, provider, model)]
                in_tok = out_tok = 0
                if feature == "stt":
                    unit_type, units = "minutes", round(min(120.0, r.lognormvariate(math.log(5), 0.8)), 4)
                elif feature == "tts":
                    unit_type, units = "characters", float(r.randint(200, 3000))
                else:
                    unit_type, units = "requests", 1.0
                    in_tok, out_tok = r.randint(500, 6000), r.randint(100, 900)
                at = self._business_time(r, day_start, offset)
                key = f"seed:{org_id}:{d}:{k}"
                call_id = r.choice(calls_by_day[d]) if calls_by_day[d] and feature in ("stt", "llm") and r.random() < 0.5 else None
                rows.append((org_id, r.choice(users)["id"], call_id, feature, provider, model, unit_type, units,
                             in_tok, out_tok, price.cost(units, in_tok, out_tok), _ts(at), _ts(at + 5), key))
                usage.append((org_id, None, "ai_calls", 1, _ts(at), _ts(at + 5), f"ai:{key}", "ai-gateway"))
        self.cp.rows("ai_usage", ["organization_id", "user_id", "call_id", "feature", "provider", "model", "unit_type",
                                  "units", "input_tokens", "output_tokens", "cost_usd", "occurred_at", "received_at",
                                  "idempotency_key"], rows)
        self.cp.rows("usage_records", ["organization_id", "user_id", "metric", "quantity", "recorded_at", "received_at",
                                       "idempotency_key", "source"], usage)

    def _storage_usage(self, rng, org_id, plan) -> None:
        hours = np.arange(self.start, self.end, 3600, dtype=np.int64)
        base = {"free": 0.5, "pro": 12.0, "enterprise": 180.0}[plan]
        gb = np.round(base * (1 + np.arange(len(hours)) / (24 * 365)) * rng.uniform(0.98, 1.02, len(hours)), 4)
        keys = np.char.add(f"st:{org_id}:", hours.astype(str))
        self.cp.columns("usage_records", ["organization_id", "user_id", "metric", "quantity", "recorded_at",
                                          "received_at", "idempotency_key", "source"],
                        [np.full(len(hours), org_id), np.full(len(hours), "\\N"), np.full(len(hours), "storage_gb_hours"),
                         gb, _ts_array(hours), _ts_array(hours + 3600), keys, np.full(len(hours), "storage-meter")])

    def _audit(self, r, rng, org_id, offset, country, users, plant_all: bool) -> None:
        rows: list[tuple] = []
        actions = vocab.AUDIT_ACTIONS
        weights = [a[2] for a in actions]

        def event(at, user, action, resource_type, resource_id=None, *, severity="info", outcome="success", ip=None,
                  ctry=None, old=None, new=None, actor_type="user"):
            rows.append((org_id, user["id"] if user else None, user["email"] if user else None, actor_type, action,
                         resource_type, resource_id, severity, outcome, ip or (user["ip"] if user else None),
                         r.choice(vocab.USER_AGENTS), ctry or country,
                         json.dumps({"method": "POST" if action != "auth.logout" else "DELETE",
                                     "path": "/api/v1/" + action.replace(".", "/")}),
                         json.dumps({"status": 401 if outcome == "failure" else 200}),
                         json.dumps(old) if old is not None else None, json.dumps(new) if new is not None else None,
                         _ts(at)))

        rate = self.cfg.audit_events_per_user_day
        for day_start, factor in self._day_starts():   # factor < 1: a weekend day
            counts = rng.poisson(rate * factor, len(users))
            for user, n in zip(users, counts):
                for _ in range(int(n)):
                    action, rtype, _ = r.choices(actions, weights)[0]
                    at = self._business_time(r, day_start, offset)
                    if action == "api_key.created":   # routine key creation happens in office hours on weekdays
                        if factor < 1:
                            action, rtype = "auth.login", "session"
                        at = day_start + int(((r.uniform(9.5, 16.5) - offset) % 24) * 3600)
                    if action == "auth.login_failed":
                        event(at, user, action, rtype, severity="warning", outcome="failure")
                    elif action == "member.role_changed":
                        target = r.choice(users)
                        event(at, user, action, "user", target["id"], severity="warning",
                              old={"role": "member"}, new={"role": "viewer"})
                    else:
                        event(at, user, action, rtype, _uuid(r) if rtype in ("recording", "transcript", "call", "report") else None)
        self._suspicious(r, org_id, offset, users, event, plant_all)
        self.cp.rows("audit_logs", ["organization_id", "actor_user_id", "actor_email", "actor_type", "action",
                                    "resource_type", "resource_id", "severity", "outcome", "ip_address", "user_agent",
                                    "country", "request_metadata", "response_metadata", "old_values", "new_values",
                                    "occurred_at"], rows)

    def _suspicious(self, r, org_id, offset, users, event, plant_all: bool) -> None:
        """The patterns security detection must find (each on a random day of the window); the first
        organization has every one of them, so even the smallest seed exercises every rule."""
        days = self._day_starts()
        admins = [u for u in users if u["role"] in ("owner", "admin")] or users[:1]

        def foreign_ip():
            return f"{r.randint(100, 199)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

        if (r.random() < 0.5 or plant_all):   # brute force against one user from one address
            at, victim, ip = self._business_time(r, r.choice(days)[0], offset), r.choice(users), foreign_ip()
            for i in range(r.randint(8, 25)):
                event(at + i * r.randint(5, 12), victim, "auth.login_failed", "session", severity="warning",
                      outcome="failure", ip=ip, ctry=r.choice(vocab.FOREIGN_COUNTRIES))
        if (r.random() < 0.2 or plant_all) and len(users) >= 10:   # credential stuffing: many users, one address
            at, ip = self._business_time(r, r.choice(days)[0], offset), foreign_ip()
            for i, victim in enumerate(r.sample(users, 10)):
                event(at + i * 40, victim, "auth.login_failed", "session", severity="warning", outcome="failure", ip=ip)
        if (r.random() < 0.4 or plant_all) and len(users) >= 3:   # privilege escalation
            actor, target = r.choice(admins), r.choice(users[2:])
            event(self._business_time(r, r.choice(days)[0], offset), actor, "member.role_changed", "user", target["id"],
                  severity="warning", old={"role": "member"}, new={"role": r.choice(["admin", "owner"])})
        if (r.random() < 0.3 or plant_all):   # mass export
            at, who = self._business_time(r, r.choice(days)[0], offset), r.choice(users)
            for i in range(r.randint(40, 120)):
                event(at + i * 20, who, "data.export", "recording", _uuid(r))
        if (r.random() < 0.15 or plant_all):   # mass deletion
            at, who = self._business_time(r, r.choice(days)[0], offset), r.choice(admins)
            for i in range(r.randint(30, 60)):
                event(at + i * 25, who, "data.delete", "recording", _uuid(r), severity="warning")
        if (r.random() < 0.3 or plant_all):   # API key created in the middle of the night (local time)
            day = r.choice(days)[0]
            event(day + int(((r.uniform(2, 4) - offset) % 24) * 3600), r.choice(admins), "api_key.created",
                  "api_key", str(r.randint(1, 10_000)))
        if (r.random() < 0.3 or plant_all):   # an admin signs in from a new country and address
            event(self._business_time(r, r.choice(days)[0], offset), r.choice(admins), "auth.login", "session",
                  ip=foreign_ip(), ctry=r.choice(vocab.FOREIGN_COUNTRIES))

    def _enterprise(self, r, index, org_id, plan, users, org_created) -> None:
        owner = users[0]
        if plan != "free":
            days = {"pro": 90, "enterprise": 365}[plan]
            self.cp.rows("data_retention_policies", ["organization_id", "resource_type", "retention_days", "action"], [
                (org_id, "recordings", days, "delete"), (org_id, "transcripts", 365, "anonymize"),
                (org_id, "summaries", 365, "delete"), (org_id, "audit_logs", 365, "archive"),
                (org_id, "usage_records", 730, "archive"), (org_id, "compliance_exports", 30, "delete")])
            keys = []
            for k in range(r.randint(1, 3)):
                secret = "ak_live_" + "".join(r.choice("0123456789abcdef") for _ in range(32))
                keys.append((org_id, owner["id"], f"integration-{k + 1}", secret[:12],
                             crypto.encrypt(secret, "api_keys.secret", self.key), _ts(org_created + 86400 * (k + 1))))
            self.cp.rows("api_keys", ["organization_id", "created_by", "name", "key_prefix", "secret_encrypted",
                                      "created_at"], keys)
            reports = []
            for name, definition, cron, formats in r.sample(vocab.REPORT_TEMPLATES, r.randint(1, 3)):
                reports.append((_uuid(r), org_id, name, json.dumps(definition), cron, formats, owner["id"]))
            self.cp.rows("custom_reports", ["id", "organization_id", "name", "definition", "schedule_cron", "formats",
                                            "created_by"], reports)
            requests = []
            for _ in range(1 + int(r.random() < 0.5) + self.cfg.days // 30):
                subject = r.choice(users)
                received = self.start + r.randint(0, self.cfg.days * 86400 - 1)
                rtype = r.choices(["export", "deletion", "rectification"], [6, 3, 1])[0]
                requests.append((org_id, subject["id"], subject["email"], rtype,
                                 r.choices(["GDPR", "HIPAA", "SOC2"], [7, 2, 1])[0],
                                 r.choice(["json", "csv", "pdf"]), _ts(received)))
            def insert_requests(conn: psycopg.Connection) -> None:
                with conn.cursor() as cur:   # due_at = one calendar month later, as Postgres' month arithmetic does
                    cur.executemany(
                        """INSERT INTO compliance_requests (organization_id, subject_user_id, subject_email, request_type,
                               standard, export_format, received_at, due_at, requested_by)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz + interval '1 month', 'privacy-portal')""",
                        [row + (row[-1],) for row in requests])

            self.cp.submit(insert_requests)
            self.cp.counts["compliance_requests"] += len(requests)
        if plan == "enterprise":
            secret = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40))
            self.cp.rows("sso_configs", ["organization_id", "protocol", "provider_name", "issuer", "sso_url",
                                         "client_id", "client_secret_encrypted"],
                         [(org_id, "oidc", "Okta", f"https://{org_id[:8]}.okta.example", f"https://{org_id[:8]}.okta.example/oauth2/v1/authorize",
                           f"client-{org_id[:8]}", crypto.encrypt(secret, "sso_configs.client_secret", self.key))])
        if plan != "free" and (r.random() < 0.35 or index == 1):   # the second (pro) org always has one
            if plan == "enterprise" and r.random() < 0.5:
                hold = (org_id, "organization", None, "Litigation hold: pending contract dispute", f"CASE-{r.randint(1000, 9999)}")
            else:
                hold = (org_id, "user", r.choice(users)["id"], "Employment investigation", f"HR-{r.randint(100, 999)}")
            self.cp.rows("legal_holds", ["organization_id", "scope", "user_id", "reason", "case_reference", "placed_by"],
                         [hold + ("legal@auralink.example",)])


_APP_TABLES = ["organizations", "users", "rbac_roles", "casbin_rule", "billing_plans", "job_runs",
               "airflow_dag_runs", "argo_workflows", "audit_logs", "audit_logs_archive", "usage_records",
               "consent_history"]   # no foreign keys (it outlives its rows): named, or a reset would keep it


def reset_data(conn: psycopg.Connection) -> None:
    """Empty every application table (keeps the schema and the price list)."""
    tables = [t for t in _APP_TABLES if t != "billing_plans"]
    conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")


def seed_database(cfg: SeedConfig, url: str | None = None, *, progress: bool = True, reset: bool = False) -> dict[str, int]:
    """Migrate if needed, then load the synthetic dataset in one transaction; returns rows per table."""
    from tqdm import tqdm

    url = url or database_url()
    migrate(url)
    key = crypto.load_key()
    with connect(url) as conn:
        if reset:
            reset_data(conn)
        elif scalar(conn, "SELECT EXISTS (SELECT 1 FROM organizations)"):
            raise SeedError("the database already has organizations; seed an empty database or pass --reset")
        conn.execute("SELECT ensure_monthly_partitions(t::regclass, %s, %s) FROM unnest(ARRAY['audit_logs', 'usage_records']) t",
                     (cfg.first_day - dt.timedelta(days=31), cfg.last_day + dt.timedelta(days=62)))
        # Generated rows satisfy the foreign keys by construction; skipping the per-row FK triggers during
        # the load (as pg_restore --disable-triggers does) roughly halves its time. Needs superuser; where
        # that is refused the load simply runs with the checks. CHECK constraints always apply.
        replica = False
        try:
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
            replica = True
        except psycopg.errors.InsufficientPrivilege:
            log.info("not a superuser: loading with foreign-key checks on")
        copier = _Copier(conn)
        try:
            gen = _Generator(cfg, copier, key)
            gen.system_roles()
            for index in tqdm(range(cfg.orgs), desc="seeding organizations", unit="org", disable=not progress):
                gen.organization(index)
        finally:
            copier.close()
        if replica:  # setting it back needs superuser too
            conn.execute("SET LOCAL session_replication_role = origin")
        conn.execute("SELECT setval(pg_get_serial_sequence('call_participants', 'id'), GREATEST(1, (SELECT max(id) FROM call_participants)))")
        # The zone each organization started with (the trigger that records it is off during a replica load).
        conn.execute("""INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, first_local_date)
                        SELECT o.id, o.timezone, '-infinity', '-infinity' FROM organizations o
                        WHERE NOT EXISTS (SELECT 1 FROM organization_timezone_history h WHERE h.organization_id = o.id)
                        ORDER BY o.id""")
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    return dict(copier.counts)
