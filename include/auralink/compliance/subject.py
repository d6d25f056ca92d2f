"""Everything AuraLink holds about one data subject (GDPR Art. 15/20), gathered table by table.

Sections are named for people, not tables ("calls_joined", "audit_events"); each is a list of plain
dicts. Secrets (encrypted columns) are never exported; their existence is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from auralink.recordings.consent import history_columns


class UnknownSubject(LookupError):
    pass


@dataclass(frozen=True)
class Subject:
    user_id: uuid.UUID
    email: str
    full_name: str | None
    phone: str | None
    erased: bool

    def identifiers(self) -> list[str]:
        """The strings that identify the subject in free text (what erasure hunts and tests scan for)."""
        out = [str(self.user_id), self.email]
        out += [v for v in (self.full_name, self.phone) if v and len(v.strip()) >= 3]
        return out


def resolve_subject(conn: psycopg.Connection, user_id: Any, email: str | None) -> Subject:
    row = None
    if user_id:
        row = conn.execute("SELECT id, email, full_name, phone, erased_at IS NOT NULL FROM users WHERE id = %s",
                           (user_id,)).fetchone()
    if row is None and email:
        row = conn.execute("SELECT id, email, full_name, phone, erased_at IS NOT NULL FROM users "
                           "WHERE lower(email) = lower(%s)", (email.strip(),)).fetchone()
    if row is None:
        who = f"user id {user_id}" if user_id else f"e-mail {email!r}" if email else "no user id or e-mail given"
        raise UnknownSubject(f"unknown data subject: no user with {who}")
    return Subject(*row)


# (section, catalog table, SQL). The rows are the catalog's linked rows of the table (``{keys}``: their
# keys, alias t); %(u)s is the user id, %(email)s the e-mail, %(org)s the organization or NULL (all).
SECTIONS: list[tuple[str, str, str]] = [
    ("profile", "users", ("SELECT t.id, t.email, t.full_name, t.phone, t.country, t.locale, t.is_active, t.created_at, "
                         "t.last_login_at FROM users t WHERE {keys}")),
    ("memberships", "organization_members",
     ("SELECT t.organization_id, o.name AS organization, t.member_role, t.joined_at, t.left_at "
     "FROM organization_members t JOIN organizations o ON o.id = t.organization_id "
     "WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.joined_at")),
    ("roles", "user_role_assignments",
     ("SELECT t.organization_id, r.name AS role, r.permissions, t.granted_at, t.expires_at "
     "FROM user_role_assignments t JOIN rbac_roles r ON r.id = t.role_id WHERE {keys} AND t.user_id = %(u)s "
     "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.granted_at")),
    ("access_policies", "casbin_rule",
     "SELECT t.ptype, t.v0, t.v1, t.v2, t.v3 FROM casbin_rule t WHERE {keys} AND t.ptype IN ('g', 'g2') ORDER BY t.id"),
    ("consents", "consents",
     ("SELECT t.organization_id, t.purpose, t.granted, t.recorded_at, t.withdrawn_at FROM consents t "
     "WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.recorded_at")),
    # Every state the subject's consents went through, with when each ended (recordings.consent's rule).
    ("consent_history", "consent_history",
     (f"SELECT {history_columns('t')} FROM consent_history t WHERE {{keys}} "
      "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.organization_id, t.purpose, t.valid_from, t.id")),
    ("calls_joined", "call_participants",
     ("SELECT c.id AS call_id, c.organization_id, c.call_type, c.status, c.started_at, c.ended_at, "
     "c.duration_seconds, t.participant_role, t.display_name, t.joined_at, t.left_at, "
     "host(t.ip_address) AS ip_address, t.country, (c.initiated_by = %(u)s) AS initiated_by_subject "
     "FROM call_participants t JOIN calls c ON c.id = t.call_id WHERE {keys} "
     "AND (%(org)s::uuid IS NULL OR c.organization_id = %(org)s) ORDER BY c.started_at")),
    ("recordings", "call_recordings",
     ("SELECT t.id, t.call_id, t.duration_seconds, t.codec, t.size_bytes, t.status, t.created_at, t.deleted_at "
     "FROM call_recordings t WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) "
     "ORDER BY t.created_at")),
    ("transcripts", "transcriptions",
     ("SELECT t.id, t.call_id, t.language, t.engine, t.model, t.text, t.segments, t.created_at "
     "FROM transcriptions t WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) "
     "ORDER BY t.created_at")),
    ("summaries", "call_summaries",
     ("SELECT t.id, t.call_id, t.summary, t.action_items, t.sentiment, t.created_at FROM call_summaries t "
     "WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.created_at")),
    ("ai_usage", "ai_usage",
     ("SELECT t.organization_id, t.call_id, t.feature, t.provider, t.model, t.unit_type, t.units, t.input_tokens, "
     "t.output_tokens, t.occurred_at FROM ai_usage t WHERE {keys} "
     "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.occurred_at")),
    ("usage_records", "usage_records",
     ("SELECT t.organization_id, t.metric, t.quantity, t.recorded_at FROM usage_records t WHERE {keys} "
     "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.recorded_at")),
    ("audit_events", "audit_logs", "audit"),
    ("security_events", "security_events",
     ("SELECT t.organization_id, t.rule, t.severity, t.description, t.status, t.first_seen_at, t.last_seen_at "
     "FROM security_events t WHERE {keys} AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) "
     "ORDER BY t.first_seen_at")),
    ("api_keys_created", "api_keys",
     ("SELECT t.organization_id, t.name, t.key_prefix, t.created_at, t.revoked_at FROM api_keys t WHERE {keys} "
     "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.created_at")),
    ("compliance_requests", "compliance_requests",
     ("SELECT t.id, t.organization_id, t.request_type, t.standard, t.status, t.received_at, t.due_at, "
     "t.completed_at FROM compliance_requests t WHERE {keys} "
     "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s) ORDER BY t.received_at")),
]
# Audit events by or about the subject: live, held and in the SQL archive table.
AUDIT_TABLES = ("audit_logs", "audit_logs_held", "audit_logs_archive")
_AUDIT_SELECT = ("SELECT t.id, t.organization_id, t.actor_type, t.action, t.resource_type, t.resource_id, t.severity, "
                 "t.outcome, host(t.ip_address) AS ip_address, t.user_agent, t.country, t.request_metadata, "
                 "t.occurred_at, CASE WHEN t.actor_user_id = %(u)s OR lower(t.actor_email) = %(email)s "
                 "THEN 'by subject' ELSE 'about subject' END AS relation FROM {table} t WHERE {keys} "
                 "AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s)")


def gather(conn: psycopg.Connection, subject: Subject, organization_id: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Every section of the export, from the catalog's linked rows (index lookups only)."""
    from auralink.compliance import catalog as catalog_mod
    from auralink.compliance.linking import Identity, key_condition, link

    cat = catalog_mod.load()
    tables = {t for _, t, _ in SECTIONS} | set(AUDIT_TABLES)
    types = catalog_mod.column_types(conn, tables | {lk.source[0] for t in tables if t in cat.tables
                                                     for lk in cat.tables[t].links if lk.source})
    identity = Identity(subject.user_id, subject.email)
    linked = link(conn, cat, identity, types, only=tables)
    base = {**identity.params(), "org": organization_id}
    # prepare=False: these queries are planned with the subject's values each time. Once psycopg prepared
    # them (5th request of a batch), PostgreSQL switched to a generic plan that cannot drop
    # "%(org)s IS NULL OR ..." and read whole partitions instead of probing the indexes.
    data: dict[str, list[dict[str, Any]]] = {}
    for section, table, query in SECTIONS:
        parts, params = [], dict(base)
        for i, name in enumerate(AUDIT_TABLES if query == "audit" else (table,)):
            lk = linked.get(name)
            if not lk or not lk.keys:
                continue
            cond, kp = key_condition(cat.tables[name], types[name], lk.keys, prefix=f"k{i}_")
            params.update(kp)
            parts.append(_AUDIT_SELECT.format(table=name, keys=cond) if query == "audit"
                          else query.format(keys=cond))
        if not parts:
            data[section] = []
            continue
        text = " UNION ALL ".join(parts) + (" ORDER BY occurred_at" if query == "audit" else "")
        cur = conn.execute(text, params, prepare=False)
        cols = [d.name for d in cur.description or ()]
        data[section] = [dict(zip(cols, row)) for row in cur.fetchall()]
    return data
