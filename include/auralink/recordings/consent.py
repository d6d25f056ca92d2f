"""Consent-aware AI processing: whose consent a call needs, as it stood at the call, and what a withdrawal
takes back.

The rule is SQL, in one place: ``call_consent_gaps(call, purposes)`` (migration 1450) lists what keeps a
call from being processed, and this module only words it and acts on it.

* **Purposes.** Transcription needs ``recording`` and ``transcription``; a summary (sent to an LLM, or the
  offline summariser) needs those and ``ai_processing``: the schema's purpose for AI features beyond
  speech-to-text, so no new kind was added.
* **Everyone in the call.** Each participant with a user row (and the initiator), in the call's
  organization, from the moment they joined: the consent must have counted then, as it stood then
  (``consent_history``, kept by a trigger on ``consents``), and nothing since may have stopped it. A grant
  written after the call never reaches back to it; a withdrawal or refusal after the call stops whatever
  was not yet done.
* **No record.** ``organizations.ai_consent_default``: ``deny`` (the default: no consent on record, no
  processing) or ``allow`` (an agreement with the organization covers its members).
* **Guests** have no user row: the host attests during the call (``calls.guest_consent_attested_at`` /
  ``_by``) that the guests were told and agreed. No attestation by the call's end, no processing; the
  organization's default does not speak for people outside it.

A call that fails the rule is skipped with the reason (``call_recordings.status = 'skipped_no_consent'``,
``transcriptions.summary_status``, a ``skipped`` job_run_items row): nothing decoded or sent anywhere, no
``ai_usage`` row. :func:`enforce_withdrawals` (the nightly job ``enforce_consent_withdrawals``) removes
what was derived under a consent that has since been withdrawn, except what a legal hold keeps.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger(__name__)

TRANSCRIPTION_PURPOSES = ("recording", "transcription")
SUMMARY_PURPOSES = ("recording", "transcription", "ai_processing")
# A withdrawal of one of these takes back the transcript and its summary; of ai_processing, the summary.
TRANSCRIPT_PURPOSES = frozenset(TRANSCRIPTION_PURPOSES)

NO_CONSENT = "no consent: "   # how every skip reason of this module starts
OnItem = Callable[[str, Any, str, str | None], None]


@dataclass(frozen=True)
class Gap:
    """One reason a call may not be processed (a row of ``call_consent_gaps``)."""

    participant_id: int | None
    purpose: str | None
    problem: str   # no_record | refused | withdrawn | stopped | guest_unattested | unknown_participant | no_participants
    state: str | None
    since: dt.datetime | None


def gaps(conn: psycopg.Connection, call_id: Any, purposes: tuple[str, ...],
         until: dt.datetime | None = None) -> list[Gap]:
    """What keeps the call from being processed for ``purposes`` (empty: nothing)."""
    rows = conn.execute("SELECT participant_id, purpose, problem, state, since "
                        "FROM call_consent_gaps(%s::uuid, %s::text[], %s::timestamptz) "
                        "ORDER BY participant_id NULLS FIRST, purpose",
                        (str(call_id), list(purposes), until)).fetchall()
    return [Gap(*row) for row in rows]


def _day(ts: dt.datetime | None) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "?"


def _who(participant_id: int | None) -> str:
    # Participant ids, never names or e-mail addresses: the reason is stored and logged.
    return f"participant {participant_id}" if participant_id is not None else "the call's initiator"


def describe(found: list[Gap], organization_default: str = "deny") -> str:
    """The gaps in one line: per person, which purpose and why."""
    parts: list[str] = []
    guests = sum(g.problem == "guest_unattested" for g in found)
    if any(g.problem == "no_participants" for g in found):
        parts.append("no participant on record, so no one's consent")
    if guests:
        parts.append(f"{guests} guest{'s' if guests > 1 else ''} without the host's attestation")
    people: dict[int | None, list[str]] = {}
    for g in found:
        if g.problem == "unknown_participant":
            people.setdefault(g.participant_id, []).append("no user record (erased), so no consent")
        elif g.problem == "no_record":
            people.setdefault(g.participant_id, []).append(
                f"no {g.purpose} consent on record at the call (organization default: {organization_default})")
        elif g.problem in ("refused", "withdrawn"):
            people.setdefault(g.participant_id, []).append(f"{g.purpose} {g.problem} at the call (since {_day(g.since)})")
        elif g.problem == "stopped":
            state = {"deleted": "record deleted"}.get(g.state or "", g.state)
            people.setdefault(g.participant_id, []).append(f"{g.purpose} {state} after the call ({_day(g.since)})")
    parts += [f"{_who(pid)}: {', '.join(why)}" for pid, why in people.items()]
    return "; ".join(parts)


def _block(conn: psycopg.Connection, call_id: Any, purposes: tuple[str, ...], consequence: str) -> str | None:
    found = gaps(conn, call_id, purposes)
    if not found:
        return None
    row = conn.execute("SELECT o.ai_consent_default FROM calls c JOIN organizations o ON o.id = c.organization_id "
                       "WHERE c.id = %s", (str(call_id),)).fetchone()
    return f"{NO_CONSENT}{describe(found, row[0] if row else 'deny')}: {consequence}"


def transcription_block(conn: psycopg.Connection, call_id: Any) -> str | None:
    """None when the call's recording may be transcribed; else why not (the skip reason)."""
    return _block(conn, call_id, TRANSCRIPTION_PURPOSES, "not transcribed, not billed")


def summary_block(conn: psycopg.Connection, call_id: Any) -> str | None:
    """None when the call's transcript may be summarised; else why not (nothing may reach an LLM)."""
    return _block(conn, call_id, SUMMARY_PURPOSES, "not summarised, nothing sent to an LLM, not billed")


# --- the history, for exports -------------------------------------------------------------------

def history_columns(alias: str = "h") -> str:
    """What a consent history row says, with when each state ended (the next one's start; NULL while in
    force): the export's section and :func:`consent_history` select the same."""
    return (f"{alias}.organization_id, {alias}.purpose, {alias}.state, {alias}.valid_from, "
            f"lead({alias}.valid_from) OVER (PARTITION BY {alias}.organization_id, {alias}.purpose "
            f"ORDER BY {alias}.valid_from, {alias}.id) AS valid_to, {alias}.recorded_at, {alias}.source")


def consent_history(conn: psycopg.Connection, user_id: Any, organization_id: Any = None) -> list[dict[str, Any]]:
    """Every state the user's consents went through (all organizations, or one), oldest first per
    organization and purpose: ``organization_id, purpose, state, valid_from, valid_to`` (None while in
    force), ``recorded_at`` (when the change was written) and ``source`` (insert, update, delete, backfill).
    For the data-subject export."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT {history_columns("h")}
               FROM consent_history h
               WHERE h.user_id = %s::uuid AND (%s::uuid IS NULL OR h.organization_id = %s::uuid)
               ORDER BY h.organization_id, h.purpose, h.valid_from, h.id""",
            (str(user_id), organization_id and str(organization_id), organization_id and str(organization_id)),
        ).fetchall()


# --- withdrawals --------------------------------------------------------------------------------

# A withdrawal: a grant that ended (withdrawn_at set, or granted flipped to false), effective before the
# night's end. Its span starts after the last time before it that the consent was not in force: what was
# derived from the user's calls since then, and no longer passes the rule, was derived under it.
_WITHDRAWALS = """
    SELECT w.id, w.user_id, w.organization_id, w.purpose, w.state, w.valid_from, o.ai_consent_default,
           (SELECT max(p.valid_from) FROM consent_history p
             WHERE p.user_id = w.user_id AND p.organization_id = w.organization_id AND p.purpose = w.purpose
               AND p.state <> 'granted' AND (p.valid_from, p.id) < (w.valid_from, w.id)) AS span_start
    FROM consent_history w
    JOIN organizations o ON o.id = w.organization_id
    WHERE w.state IN ('withdrawn', 'refused') AND w.valid_from < %(until)s AND w.purpose = ANY(%(purposes)s)
      AND (w.state = 'withdrawn'
           OR (SELECT p.state FROM consent_history p
                WHERE p.user_id = w.user_id AND p.organization_id = w.organization_id AND p.purpose = w.purpose
                  AND (p.valid_from, p.id) < (w.valid_from, w.id)
                ORDER BY p.valid_from DESC, p.id DESC LIMIT 1) = 'granted')
    ORDER BY w.valid_from, w.id
"""

_DERIVED = """
    SELECT DISTINCT ON (t.id) t.id, t.call_id, t.recording_id, s.id AS summary_id, cp.participant_id
    FROM call_people cp
    JOIN transcriptions t ON t.call_id = cp.call_id
    LEFT JOIN call_summaries s ON s.transcription_id = t.id
    WHERE cp.user_id = %(user)s AND cp.organization_id = %(org)s
      AND (%(span_start)s::timestamptz IS NULL OR cp.present_from >= %(span_start)s)
      AND EXISTS (SELECT 1 FROM consent_problem(cp.user_id, cp.organization_id, %(purpose)s, cp.present_from,
                                                %(default)s, %(until)s))
    ORDER BY t.id, cp.present_from
"""

_HOLD_SPLIT = re.compile(r"; (?=hold \d+ \()")


def removal_hold(conn: psycopg.Connection, org: Any, users: list[Any], call_id: Any, recording_id: Any,
                 resource_type: str, resource_id: Any) -> str | None:
    """The legal holds that keep a derived item (None: none). The decision is ``legal_hold_applies``
    (via :func:`auralink.compliance.holds.hold_reason`), asked for the item itself, its recording and its
    call, for the withdrawing user and every participant of the call: a hold on any of them keeps it."""
    from auralink.compliance import holds

    found: dict[int, str] = {}
    for user in users:
        for rtype, rid in ((resource_type, resource_id), ("recording", recording_id), ("call", call_id)):
            reason = holds.hold_reason(conn, org, user, rtype, None if rid is None else str(rid))
            for part in _HOLD_SPLIT.split(reason or ""):
                match = re.match(r"hold (\d+) ", part)
                if part:
                    found.setdefault(int(match.group(1)) if match else -len(found) - 1, part)
    return "; ".join(found[k] for k in sorted(found)) or None


def _record(conn: psycopg.Connection, withdrawal_id: int, org: Any, item_type: str, item_id: int, call_id: Any,
            recording_id: Any, outcome: str, hold: str | None, run_id: int | None, night_end: dt.datetime) -> None:
    conn.execute(
        """INSERT INTO consent_withdrawal_removals (withdrawal_id, organization_id, item_type, item_id, call_id,
                                                   recording_id, outcome, hold_reason, job_run_id, night_end)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (withdrawal_id, item_type, item_id, outcome) DO UPDATE SET
               hold_reason = EXCLUDED.hold_reason, job_run_id = EXCLUDED.job_run_id,
               night_end = EXCLUDED.night_end, recorded_at = now()""",
        (withdrawal_id, org, item_type, item_id, call_id, recording_id, outcome, hold, run_id, night_end))


def enforce_withdrawals(url: str, *, until: dt.datetime, run_id: int | None = None,
                        on_item: OnItem | None = None) -> dict[str, Any]:
    """Remove the transcripts and summaries derived under consents withdrawn before ``until`` (the night's
    end), except what a legal hold keeps; one ``consent_withdrawal_removals`` row per item, naming the
    withdrawal (and the hold). Idempotent: a removed item is gone; a held one is looked at again each night."""
    from auralink.db.connection import connect

    stats = {"withdrawals": 0, "transcripts_removed": 0, "summaries_removed": 0, "held": 0}

    def emit(item_type: str, item_id: Any, outcome: str, reason: str | None) -> None:
        if on_item is not None:
            on_item(item_type, item_id, outcome, reason)

    with connect(url, autocommit=True, application_name="auralink:enforce_consent_withdrawals") as conn:
        withdrawals = conn.execute(_WITHDRAWALS, {"until": until, "purposes": list(SUMMARY_PURPOSES)}).fetchall()
        for wid, user, org, purpose, state, since, default, span_start in withdrawals:
            stats["withdrawals"] += 1
            derived = conn.execute(_DERIVED, {"user": user, "org": org, "span_start": span_start, "purpose": purpose,
                                              "default": default, "until": until}).fetchall()
            for tid, call_id, rec_id, sid, pid in derived:
                why = (f"{_who(pid)} {'withdrew' if state == 'withdrawn' else 'refused'} {purpose} consent "
                       f"on {_day(since)} (withdrawal {wid})")
                with conn.transaction():
                    _take_back(conn, stats, emit, wid=wid, org=org, user=user, purpose=purpose, tid=tid,
                               call_id=call_id, rec_id=rec_id, why=why, run_id=run_id, until=until)
    return stats


def _take_back(conn: psycopg.Connection, stats: dict[str, Any], emit: OnItem, *, wid: int, org: Any, user: Any,
               purpose: str, tid: int, call_id: Any, rec_id: Any, why: str, run_id: int | None,
               until: dt.datetime) -> None:
    """One transcript (and its summary) under one withdrawal, inside the caller's transaction."""
    from auralink.compliance import holds

    locked = conn.execute("SELECT t.id, s.id FROM transcriptions t LEFT JOIN call_summaries s "
                          "ON s.transcription_id = t.id WHERE t.id = %s FOR UPDATE OF t", (tid,)).fetchone()
    if locked is None:
        return   # removed meanwhile (another withdrawal, erasure, retention)
    sid = locked[1]
    users = [user] + [r[0] for r in conn.execute(
        "SELECT DISTINCT user_id FROM call_people WHERE call_id = %s AND user_id IS NOT NULL AND user_id <> %s",
        (call_id, user)).fetchall()]
    summary_hold = (removal_hold(conn, org, users, call_id, rec_id, "summary", sid) if sid is not None else None)
    if sid is not None:
        if summary_hold:
            _record(conn, wid, org, "summary", sid, call_id, rec_id, "held", summary_hold, run_id, until)
            stats["held"] += 1
            emit("summary", sid, "skipped", holds.skip_message(summary_hold) + f"; {why}")
        else:
            conn.execute("DELETE FROM call_summaries WHERE id = %s", (sid,))
            _record(conn, wid, org, "summary", sid, call_id, rec_id, "removed", None, run_id, until)
            stats["summaries_removed"] += 1
            emit("summary", sid, "succeeded", f"removed: {why}")
    skip = f"{NO_CONSENT}{why}: derived data removed, not processed again"
    if purpose not in TRANSCRIPT_PURPOSES:   # ai_processing: the summary only; the transcript stays
        if sid is not None and not summary_hold:
            conn.execute("UPDATE transcriptions SET summary_status = 'skipped_no_consent', summary_skip_reason = %s "
                         "WHERE id = %s", (skip, tid))
        return
    transcript_hold = removal_hold(conn, org, users, call_id, rec_id, "transcript", tid)
    if not transcript_hold and summary_hold:   # deleting the transcript would take the held summary with it
        transcript_hold = f"its summary is kept: {summary_hold}"
    if transcript_hold:
        _record(conn, wid, org, "transcript", tid, call_id, rec_id, "held", transcript_hold, run_id, until)
        stats["held"] += 1
        emit("transcript", tid, "skipped", holds.skip_message(transcript_hold) + f"; {why}")
        conn.execute("UPDATE transcriptions SET summary_status = 'skipped_no_consent', summary_skip_reason = %s "
                     "WHERE id = %s AND summary_status IS NULL", (skip, tid))
        return
    conn.execute("DELETE FROM transcriptions WHERE id = %s", (tid,))
    conn.execute("UPDATE call_recordings SET status = 'skipped_no_consent', skip_reason = %s "
                 "WHERE id = %s AND status = 'transcribed'", (skip, rec_id))
    _record(conn, wid, org, "transcript", tid, call_id, rec_id, "removed", None, run_id, until)
    stats["transcripts_removed"] += 1
    emit("transcript", tid, "succeeded", f"removed: {why}")
