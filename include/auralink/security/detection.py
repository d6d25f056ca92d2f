"""Security events from the audit log.

Each rule reads the audit events of a time range and returns :class:`Finding` s; :func:`detect` writes
them to ``security_events`` with an upsert on ``dedup_key`` (one event per rule, subject and incident,
however often detection re-runs over the same rows). A dedup key never contains the run time, only what
the audit rows say, so re-reading an overlap gives the same keys.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from auralink.db.connection import scalar
from auralink.security.settings import SecuritySettings

EVIDENCE_IDS = 20  # audit ids kept as evidence per event (the count is always complete)


@dataclass
class Finding:
    rule: str
    severity: str
    dedup_key: str
    description: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    occurrences: int = 1
    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    source_ip: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    since: dt.datetime
    until: dt.datetime


def _fetch(conn: psycopg.Connection, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(
        f"""SELECT a.id, a.organization_id, a.actor_user_id, a.actor_email, a.action, a.outcome,
                   host(a.ip_address) AS ip, a.country, a.occurred_at, a.resource_type, a.resource_id,
                   a.old_values, a.new_values
            FROM audit_logs a WHERE a.occurred_at >= %(since)s AND a.occurred_at < %(until)s AND ({where})
            ORDER BY a.occurred_at, a.id""", params).fetchall()


def bursts(events: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any], window: dt.timedelta,
           threshold: int) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Group events per key into sessions (a gap longer than ``window`` starts a new one) and return the
    sessions in which some ``window`` holds at least ``threshold`` events. Events must be time-ordered."""
    per_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        k = key(ev)
        if k is not None:
            per_key[k].append(ev)
    found = []
    for k, evs in per_key.items():
        session: list[dict[str, Any]] = []
        nxt: dict[str, Any] | None
        for nxt in [*evs, None]:   # None: flush the last session
            if nxt is not None and (not session or nxt["occurred_at"] - session[-1]["occurred_at"] <= window):
                session.append(nxt)
                continue
            if len(session) >= threshold:
                times = [e["occurred_at"] for e in session]
                lo, peak = 0, 0
                for hi in range(len(times)):
                    while times[hi] - times[lo] > window:
                        lo += 1
                    peak = max(peak, hi - lo + 1)
                if peak >= threshold:
                    found.append((k, session))
            session = [nxt] if nxt is not None else []
    return found


def _ts_key(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _single(values: Iterable[Any]) -> Any:
    distinct = {v for v in values if v is not None}
    return next(iter(distinct)) if len(distinct) == 1 else None


def rule_failed_login_bursts(conn, win: Window, s: SecuritySettings) -> list[Finding]:
    window = dt.timedelta(minutes=s.failed_login_window_minutes)
    events = _fetch(conn, "a.action = ANY(%(failed)s) OR (a.action = ANY(%(login)s) AND a.outcome = 'failure')",
                    {"since": win.since, "until": win.until, "failed": list(s.failed_login_actions),
                     "login": list(s.login_actions)})
    findings = []
    subjects = (
        ("user", lambda e: (e["organization_id"], e["actor_user_id"] or e["actor_email"])
         if (e["actor_user_id"] or e["actor_email"]) else None, s.failed_login_user_threshold),
        ("ip", lambda e: e["ip"], s.failed_login_ip_threshold),
    )
    for subject, keyfn, threshold in subjects:
        for k, session in bursts(events, keyfn, window, threshold):
            first, last = session[0]["occurred_at"], session[-1]["occurred_at"]
            users = {str(e["actor_user_id"] or e["actor_email"]) for e in session}
            ips = sorted({e["ip"] for e in session if e["ip"]})
            if subject == "user":
                org, who = k
                desc = f"{len(session)} failed logins for {session[0]['actor_email'] or who} within {_span(first, last)}"
                dedup = f"failed_login_burst:user:{org}:{who}:{_ts_key(first)}"
                severity = "high" if len(session) >= 3 * threshold or len(ips) > 1 else "medium"
            else:
                desc = f"{len(session)} failed logins from {k} against {len(users)} account(s) within {_span(first, last)}"
                dedup = f"failed_login_burst:ip:{k}:{_ts_key(first)}"
                severity = "high" if len(users) > 1 else "medium"
            findings.append(Finding(
                "failed_login_burst", severity, dedup, desc, first, last, len(session),
                organization_id=_single(e["organization_id"] for e in session),
                user_id=_single(e["actor_user_id"] for e in session),
                source_ip=k if subject == "ip" else _single(e["ip"] for e in session),
                evidence={"subject": subject, "failures": len(session), "threshold": threshold,
                          "window_minutes": s.failed_login_window_minutes, "accounts": len(users),
                          "source_ips": ips[:EVIDENCE_IDS], "countries": sorted({e["country"] for e in session if e["country"]}),
                          "audit_ids": [e["id"] for e in session[:EVIDENCE_IDS]]}))
    return findings


def _span(first: dt.datetime, last: dt.datetime) -> str:
    seconds = int((last - first).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _role(values: Any) -> str | None:
    if not isinstance(values, dict):
        return None
    for name in ("role", "member_role", "new_role"):
        if isinstance(values.get(name), str):
            return values[name]
    return None


def rule_privilege_escalation(conn, win: Window, s: SecuritySettings) -> list[Finding]:
    events = _fetch(conn, "a.action = ANY(%(actions)s)",
                    {"since": win.since, "until": win.until, "actions": list(s.role_change_actions)})
    findings = []
    for e in events:
        new, old = _role(e["new_values"]), _role(e["old_values"])
        if new not in s.privileged_roles or old == new or (old in s.privileged_roles and new != "owner"):
            continue
        target = e["resource_id"] or "?"
        findings.append(Finding(
            "privilege_escalation", "critical" if new == "owner" else "high",
            f"privilege_escalation:{e['id']}:{_ts_key(e['occurred_at'])}",
            f"{e['actor_email'] or e['actor_user_id']} changed the role of user {target} from {old or 'unknown'} to {new}",
            e["occurred_at"], e["occurred_at"], 1, e["organization_id"], e["actor_user_id"], e["ip"],
            {"audit_id": e["id"], "target_user_id": target, "old_role": old, "new_role": new}))
    return findings


def rule_mass_actions(conn, win: Window, s: SecuritySettings) -> list[Finding]:
    window = dt.timedelta(minutes=s.mass_action_window_minutes)
    findings = []
    for rule, actions, threshold, verb in (("mass_export", s.export_actions, s.mass_export_threshold, "exports"),
                                           ("mass_deletion", s.delete_actions, s.mass_delete_threshold, "deletions")):
        events = _fetch(conn, "a.action = ANY(%(actions)s) AND a.outcome = 'success'",
                        {"since": win.since, "until": win.until, "actions": list(actions)})
        actor = lambda e: (e["organization_id"], e["actor_user_id"] or e["actor_email"] or e["ip"])
        for (org, who), session in bursts(events, actor, window, threshold):
            first, last = session[0]["occurred_at"], session[-1]["occurred_at"]
            types = sorted({e["resource_type"] or "?" for e in session})
            findings.append(Finding(
                rule, "critical" if rule == "mass_deletion" else "high",
                f"{rule}:{org}:{who}:{_ts_key(first)}",
                f"{len(session)} {verb} of {', '.join(types)} by {session[0]['actor_email'] or who} within {_span(first, last)}",
                first, last, len(session), org, _single(e["actor_user_id"] for e in session),
                _single(e["ip"] for e in session),
                {"count": len(session), "threshold": threshold, "window_minutes": s.mass_action_window_minutes,
                 "resource_types": types, "audit_ids": [e["id"] for e in session[:EVIDENCE_IDS]]}))
    return findings


def rule_admin_new_location(conn, win: Window, s: SecuritySettings) -> list[Finding]:
    rows = conn.cursor(row_factory=dict_row).execute(
        """SELECT a.id, a.organization_id, a.actor_user_id, a.actor_email, host(a.ip_address) AS ip, a.country,
                  a.occurred_at, m.member_role, base.events, base.countries, base.ips
           FROM audit_logs a
           JOIN organization_members m ON m.organization_id = a.organization_id AND m.user_id = a.actor_user_id
           CROSS JOIN LATERAL (
               SELECT count(*) AS events, array_agg(DISTINCT b.country) FILTER (WHERE b.country IS NOT NULL) AS countries,
                      array_agg(DISTINCT host(b.ip_address)) FILTER (WHERE b.ip_address IS NOT NULL) AS ips
               FROM audit_logs b
               WHERE b.actor_user_id = a.actor_user_id AND b.outcome = 'success'
                 AND b.occurred_at >= a.occurred_at - make_interval(days => %(baseline)s) AND b.occurred_at < a.occurred_at
           ) base
           WHERE a.occurred_at >= %(since)s AND a.occurred_at < %(until)s
             AND a.action = ANY(%(login)s) AND a.outcome = 'success' AND m.member_role = ANY(%(roles)s)
             AND base.events >= %(min_events)s
           ORDER BY a.occurred_at, a.id""",
        {"since": win.since, "until": win.until, "login": list(s.login_actions), "roles": list(s.new_location_roles),
         "baseline": s.new_location_baseline_days, "min_events": s.new_location_min_baseline_events}).fetchall()
    findings = []
    for e in rows:
        new_country = e["country"] is not None and e["country"] not in (e["countries"] or [])
        new_ip = e["ip"] is not None and e["ip"] not in (e["ips"] or [])
        if new_country:
            key = f"admin_new_location:country:{e['actor_user_id']}:{e['country']}"
            desc = f"{e['member_role']} {e['actor_email']} signed in from a new country {e['country']} ({e['ip']})"
            severity = "high"
        elif new_ip and s.flag_new_ip:
            key = f"admin_new_location:ip:{e['actor_user_id']}:{e['ip']}"
            desc = f"{e['member_role']} {e['actor_email']} signed in from a new IP address {e['ip']}"
            severity = "medium"
        else:
            continue
        findings.append(Finding(
            "admin_new_location", severity, key, desc, e["occurred_at"], e["occurred_at"], 1, e["organization_id"],
            e["actor_user_id"], e["ip"],
            {"audit_id": e["id"], "role": e["member_role"], "country": e["country"], "ip": e["ip"],
             "known_countries": sorted(e["countries"] or []), "known_ips": sorted(e["ips"] or [])[:EVIDENCE_IDS],
             "baseline_days": s.new_location_baseline_days, "baseline_events": e["events"]}))
    return findings


def rule_api_key_after_hours(conn, win: Window, s: SecuritySettings) -> list[Finding]:
    rows = conn.cursor(row_factory=dict_row).execute(
        # Business hours are those of the zone in force when the key was created (a change of zone takes
        # effect from the next local month: organization_timezone_history), so an old finding never moves.
        """WITH a AS (
               SELECT a.id, a.organization_id, a.actor_user_id, a.actor_email, host(a.ip_address) AS ip,
                      a.occurred_at, a.resource_id,
                      (SELECT h.timezone FROM organization_timezone_history h
                       WHERE h.organization_id = a.organization_id AND h.effective_from <= a.occurred_at
                       ORDER BY h.effective_from DESC LIMIT 1) AS timezone
               FROM audit_logs a
               WHERE a.occurred_at >= %(since)s AND a.occurred_at < %(until)s AND a.action = ANY(%(actions)s)
                 AND a.outcome = 'success')
           SELECT a.*, (a.occurred_at AT TIME ZONE a.timezone) AS local_time
           FROM a
           WHERE extract(isodow FROM a.occurred_at AT TIME ZONE a.timezone)::int <> ALL(%(days)s)
              OR extract(hour FROM a.occurred_at AT TIME ZONE a.timezone) < %(start)s
              OR extract(hour FROM a.occurred_at AT TIME ZONE a.timezone) >= %(end)s
           ORDER BY a.occurred_at, a.id""",
        {"since": win.since, "until": win.until, "actions": list(s.api_key_actions), "days": list(s.business_days),
         "start": s.business_hours_start, "end": s.business_hours_end}).fetchall()
    return [Finding(
        "api_key_after_hours", "medium", f"api_key_after_hours:{e['id']}:{_ts_key(e['occurred_at'])}",
        f"API key {e['resource_id'] or ''} created by {e['actor_email'] or e['actor_user_id']} at "
        f"{e['local_time']:%a %H:%M} ({e['timezone']}), outside business hours",
        e["occurred_at"], e["occurred_at"], 1, e["organization_id"], e["actor_user_id"], e["ip"],
        {"audit_id": e["id"], "local_time": e["local_time"].isoformat(), "timezone": e["timezone"],
         "business_hours": f"{s.business_hours_start:02d}:00-{s.business_hours_end:02d}:00",
         "business_days": list(s.business_days)}) for e in rows]


RULES: dict[str, Callable[[psycopg.Connection, Window, SecuritySettings], list[Finding]]] = {
    "failed_login_burst": rule_failed_login_bursts,
    "privilege_escalation": rule_privilege_escalation,
    "mass_actions": rule_mass_actions,
    "admin_new_location": rule_admin_new_location,
    "api_key_after_hours": rule_api_key_after_hours,
}


def save(conn: psycopg.Connection, findings: list[Finding]) -> tuple[int, int]:
    """Upsert findings on dedup_key; returns (new, updated). Triage status is never reset."""
    new = updated = 0
    for f in findings:
        inserted = scalar(conn,
            """INSERT INTO security_events (organization_id, user_id, rule, severity, source_ip, description, evidence,
                                            dedup_key, first_seen_at, last_seen_at, occurrences)
               VALUES ((SELECT id FROM organizations WHERE id = %(org)s), (SELECT id FROM users WHERE id = %(user)s),
                       %(rule)s, %(severity)s, %(ip)s::inet, %(description)s, %(evidence)s, %(key)s,
                       %(first)s, %(last)s, %(n)s)
               ON CONFLICT (dedup_key) DO UPDATE SET
                   first_seen_at = least(security_events.first_seen_at, EXCLUDED.first_seen_at),
                   last_seen_at = greatest(security_events.last_seen_at, EXCLUDED.last_seen_at),
                   occurrences = greatest(security_events.occurrences, EXCLUDED.occurrences),
                   severity = EXCLUDED.severity, description = EXCLUDED.description, evidence = EXCLUDED.evidence
               RETURNING (xmax = 0)""",
            {"org": f.organization_id, "user": f.user_id, "rule": f.rule, "severity": f.severity, "ip": f.source_ip,
             "description": f.description, "evidence": Jsonb(f.evidence), "key": f.dedup_key,
             "first": f.first_seen_at, "last": f.last_seen_at, "n": f.occurrences})
        new += inserted
        updated += not inserted
    return new, updated


def detect(conn: psycopg.Connection, win: Window, settings: SecuritySettings | None = None,
           rules: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """Run the rules over ``win`` and save what they find; one rule's error does not stop the others
    (it is raised after the others ran, in a :class:`DetectionErrors`)."""
    settings = settings or SecuritySettings.from_env()
    stats: dict[str, dict[str, int]] = {}
    errors: dict[str, str] = {}
    for name in rules or RULES:
        try:
            with conn.transaction():
                findings = RULES[name](conn, win, settings)
                new, updated = save(conn, findings)
        except Exception as exc:  # noqa: BLE001 - reported per rule below
            errors[name] = f"{exc.__class__.__name__}: {exc}"
            continue
        stats[name] = {"findings": len(findings), "new": new, "updated": updated}
    if errors:
        raise DetectionErrors(stats, errors)
    return stats


class DetectionErrors(RuntimeError):
    def __init__(self, stats: dict[str, dict[str, int]], errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.stats = stats
        self.errors = errors
