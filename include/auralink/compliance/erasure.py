"""Erasure (GDPR Art. 17): delete what can go, pseudonymize what must stay, reach derived data, and
write a proof-of-erasure report.

What happens to each category (``DEFAULT_SCOPE``; a request's ``scope.categories`` may narrow it):

* deleted: consents, memberships, role assignments and access policies, earlier export files, and
  the subject's solo calls' recordings (audio file + row marked deleted), transcripts and summaries;
* pseudonymized, kept: audit events (Art. 17(3)(b)/(e): the event stays, the identity becomes a
  stable pseudonym / pseudonymous uuid), usage records and invoices (legal obligation: tax and billing
  records), AI usage (cost records), security events, calls joined with others (the other
  participants' record; the subject's name is replaced in transcripts and summaries);
* everything else: a sweep over every text and JSON column of every table replaces the subject's
  identifiers (user id, e-mail, name, phone) with the pseudonym.

Rows under a legal hold (organization, user or resource: ``legal_hold_applies``) are never touched;
the report lists them with the hold's reason. A hold on the subject blocks the whole erasure.
The users row stays as a tombstone (erased_at, pseudonym) so references and the proof keep working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from auralink.compliance import holds, storage
from auralink.compliance.exports import to_json_text
from auralink.compliance.subject import Subject
from auralink.db.connection import scalar

log = logging.getLogger(__name__)

DEFAULT_SCOPE = ("exports", "consents", "memberships", "roles", "calls", "recordings", "transcripts", "summaries",
                 "ai_usage", "usage_records", "invoices", "audit_logs", "security_events", "api_keys", "requests",
                 "profile", "sweep")
# Tables the sweep leaves alone: users (its tombstone is written above), the hold-protected, the migration ledger, and the erasure's own ledger.
SWEEP_EXCLUDED = {"users", "legal_holds", "audit_logs_held", "schema_migrations", "erasure_ledger"}
BASIS = {
    "audit_logs": "Art. 17(3)(b) and (e): security and accountability record; event kept, identity pseudonymized",
    "usage_records": "Art. 17(3)(b): legal obligation to keep billing records; identity pseudonymized",
    "invoices": "Art. 17(3)(b): legal obligation to keep tax records; billing e-mail pseudonymized",
    "ai_usage": "Art. 17(3)(b): cost and billing record; user reference removed",
    "security_events": "Art. 17(3)(e): security incident record; identity pseudonymized",
    "calls": "Art. 17(3) balance with other participants' rights: call kept, subject's identity pseudonymized",
    "recordings": "recordings of calls with other participants are theirs too: audio kept, transcripts pseudonymized",
    "profile": "tombstone row with erased_at and pseudonym keeps references and this proof resolvable",
    "legal_hold": "Art. 17(3)(e): establishment, exercise or defence of legal claims (legal hold)",
}


class ErasureBlocked(RuntimeError):
    """A legal hold on the subject (or its organization) keeps everything."""


def pseudonym_for(user_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    """A stable pseudonym (text) and pseudonymous uuid; keyed, so not reversible without the key."""
    from auralink.crypto import load_key

    digest = hmac.new(load_key(), b"auralink-pseudonym:" + str(user_id).encode(), hashlib.sha256).digest()
    return "subject-" + digest[:10].hex(), uuid.UUID(bytes=digest[16:32], version=4)


@dataclass
class ErasureReport:
    request_id: str
    organization_id: str
    pseudonym: str
    performed_at: str
    deleted: dict[str, int] = field(default_factory=dict)
    pseudonymized: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    files_deleted: int = 0
    views_to_rebuild: list[str] = field(default_factory=list)
    views_rebuilt: list[str] = field(default_factory=list)
    cold_archives: list[dict[str, Any]] = field(default_factory=list)

    def add(self, bucket: str, what: str, n: int) -> None:
        if n:
            target = self.deleted if bucket == "deleted" else self.pseudonymized
            target[what] = target.get(what, 0) + n


def _regex(identifiers: list[str]) -> str:
    """One case-insensitive PostgreSQL regex for all identifiers, whole tokens only: erasing
    "Bench User 1" must not touch "Bench User 10"."""
    alts = "|".join(_pg_escape(i) for i in sorted(set(identifiers), key=len, reverse=True))
    return f"(?<![[:alnum:]_])({alts})(?![[:alnum:]_])"


def _like(text: str) -> str:
    """An ILIKE pattern finding ``text`` anywhere: a cheap pre-filter before the exact regex."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _pg_escape(text: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def _exec(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> int:
    return conn.execute(query, params).rowcount or 0


def erase(conn: psycopg.Connection, subject: Subject, *, request_id: Any, organization_id: Any,
          categories: tuple[str, ...] = DEFAULT_SCOPE, refresh_views: bool = True,
          record_skip=None) -> ErasureReport:
    """Erase ``subject`` inside the caller's transaction; returns the report (not yet stored)."""
    reason = holds.hold_reason(conn, organization_id, subject.user_id, "user", str(subject.user_id))
    if reason:
        if record_skip:
            record_skip("compliance_request", request_id, holds.skip_message(reason))
        raise ErasureBlocked(f"erasure blocked by legal hold: {reason}")
    pseudo, pseudo_uuid = pseudonym_for(subject.user_id)
    pseudo_email = f"{pseudo}@erased.invalid"
    report = ErasureReport(str(request_id), str(organization_id), pseudo,
                           dt.datetime.now(dt.UTC).isoformat())
    p = {"u": subject.user_id, "email": subject.email, "pseudo": pseudo, "pseudo_email": pseudo_email,
         "pseudo_uuid": pseudo_uuid, "rx": _regex(subject.identifiers()),
         "likes": [_like(i.lower()) for i in subject.identifiers()]}
    want = set(categories)

    def not_held(org: str, rtype: str = "NULL::text", rid: str = "NULL::text") -> str:
        return "NOT " + holds.held_predicate(org, "%(u)s::uuid", rtype, rid)

    # What is kept under a hold, per table and hold, for the report (and the job's skipped items).
    def note_holds(label: str, query: str) -> None:
        for hold_reason, n in conn.execute(query, p).fetchall():
            report.held.append({"what": label, "rows": n, "reason": hold_reason, "basis": BASIS["legal_hold"]})
            if record_skip:
                record_skip(f"erasure:{label}", request_id, holds.skip_message(f"{hold_reason} ({n} rows)"))

    def held_rows(table: str, where: str, org: str = "t.organization_id", rtype: str = "NULL::text",
                  rid: str = "NULL::text", join: str = "") -> None:
        note_holds(table, f"SELECT {holds.reason_expression(org, '%(u)s::uuid', rtype, rid)} AS r, count(*) "
                          f"FROM {table} t {join} WHERE {where} AND {holds.held_predicate(org, '%(u)s::uuid', rtype, rid)} "
                          "GROUP BY 1")

    # Calls the subject took part in, before any reference is cut: solo calls go, shared calls stay.
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _erase_calls (call_id uuid PRIMARY KEY, organization_id uuid, solo boolean)")
    conn.execute("TRUNCATE _erase_calls")
    conn.execute(
        "INSERT INTO _erase_calls SELECT c.id, c.organization_id, NOT EXISTS (SELECT 1 FROM call_participants o "
        "  WHERE o.call_id = c.id AND (o.user_id IS DISTINCT FROM %(u)s)) "
        "FROM calls c WHERE c.initiated_by = %(u)s OR EXISTS (SELECT 1 FROM call_participants cp "
        "  WHERE cp.call_id = c.id AND cp.user_id = %(u)s)", p)

    files_to_delete: list[str] = []
    if "exports" in want:
        for rid, loc in conn.execute(
                "SELECT id, result_location FROM compliance_requests WHERE subject_user_id = %(u)s "
                "AND request_type = 'export' AND result_location IS NOT NULL", p).fetchall():
            files_to_delete.append(loc)
            conn.execute("UPDATE compliance_requests SET result_location = NULL, updated_at = now() WHERE id = %s", (rid,))
            report.add("deleted", "compliance_exports", 1)
    if "consents" in want:
        held_rows("consents", "t.user_id = %(u)s")
        report.add("deleted", "consents", _exec(conn, f"DELETE FROM consents t WHERE user_id = %(u)s AND {not_held('t.organization_id')}", p))
    if "roles" in want:
        held_rows("user_role_assignments", "t.user_id = %(u)s")
        report.add("deleted", "user_role_assignments", _exec(
            conn, f"DELETE FROM user_role_assignments t WHERE user_id = %(u)s AND {not_held('t.organization_id')}", p))
        report.add("pseudonymized", "user_role_assignments.granted_by", _exec(
            conn, "UPDATE user_role_assignments SET granted_by = NULL WHERE granted_by = %(u)s", p))
        report.add("deleted", "casbin_rule", _exec(
            conn, "DELETE FROM casbin_rule WHERE v0 IN (%(u)s::text, 'user:' || %(u)s::text, %(email)s)", p))
    if "memberships" in want:
        held_rows("organization_members", "t.user_id = %(u)s")
        report.add("deleted", "organization_members", _exec(
            conn, f"DELETE FROM organization_members t WHERE user_id = %(u)s AND {not_held('t.organization_id')}", p))
    if "recordings" in want:
        held_rows("call_recordings", "t.call_id IN (SELECT call_id FROM _erase_calls WHERE solo)",
                  rtype="'recording'", rid="t.id::text")
        rows = conn.execute(
            "UPDATE call_recordings t SET status = 'deleted', deleted_at = now(), size_bytes = NULL, "
            "failure_reason = NULL, claimed_by = NULL FROM (SELECT id, storage_uri FROM call_recordings "
            "  WHERE call_id IN (SELECT call_id FROM _erase_calls WHERE solo) AND status <> 'deleted') old "
            f"WHERE t.id = old.id AND {not_held('t.organization_id', chr(39) + 'recording' + chr(39), 't.id::text')} "
            "RETURNING old.storage_uri", p).fetchall()
        files_to_delete += [r[0] for r in rows]
        report.add("deleted", "call_recordings (audio)", len(rows))
        shared = scalar(conn, "SELECT count(*) FROM call_recordings WHERE call_id IN "
                              "(SELECT call_id FROM _erase_calls WHERE NOT solo) AND status <> 'deleted'")
        if shared:
            report.kept.append({"what": "call_recordings of calls with other participants", "rows": shared,
                                "basis": BASIS["recordings"]})
    if "transcripts" in want:
        held_rows("transcriptions", "t.call_id IN (SELECT call_id FROM _erase_calls WHERE solo)",
                  rtype="'transcript'", rid="t.id::text")
        report.add("deleted", "transcriptions", _exec(
            conn, "DELETE FROM transcriptions t WHERE call_id IN (SELECT call_id FROM _erase_calls WHERE solo) "
                  f"AND {not_held('t.organization_id', chr(39) + 'transcript' + chr(39), 't.id::text')}", p))
        report.add("pseudonymized", "transcriptions", _exec(
            conn, "UPDATE transcriptions t SET text = regexp_replace(text, %(rx)s, %(pseudo)s, 'gi'), "
                  "redacted_text = regexp_replace(redacted_text, %(rx)s, %(pseudo)s, 'gi'), "
                  "segments = regexp_replace(segments::text, %(rx)s, %(pseudo)s, 'gi')::jsonb, updated_at = now() "
                  "WHERE call_id IN (SELECT call_id FROM _erase_calls) "
                  "AND (text ~* %(rx)s OR redacted_text ~* %(rx)s OR segments::text ~* %(rx)s) "
                  f"AND {not_held('t.organization_id', chr(39) + 'transcript' + chr(39), 't.id::text')}", p))
    if "summaries" in want:
        report.add("pseudonymized", "call_summaries", _exec(
            conn, "UPDATE call_summaries t SET summary = regexp_replace(summary, %(rx)s, %(pseudo)s, 'gi'), "
                  "action_items = regexp_replace(action_items::text, %(rx)s, %(pseudo)s, 'gi')::jsonb, updated_at = now() "
                  "WHERE call_id IN (SELECT call_id FROM _erase_calls) "
                  "AND (summary ~* %(rx)s OR action_items::text ~* %(rx)s) "
                  f"AND {not_held('t.organization_id', chr(39) + 'summary' + chr(39), 't.id::text')}", p))
    if "calls" in want:
        held_rows("call_participants", "t.user_id = %(u)s", org="c.organization_id", rtype="'call'",
                  rid="t.call_id::text", join="JOIN calls c ON c.id = t.call_id")
        report.add("pseudonymized", "call_participants", _exec(
            conn, "UPDATE call_participants t SET user_id = NULL, display_name = %(pseudo)s, ip_address = NULL, "
                  "country = NULL FROM calls c WHERE c.id = t.call_id AND t.user_id = %(u)s "
                  f"AND {not_held('c.organization_id', chr(39) + 'call' + chr(39), 't.call_id::text')}", p))
        report.add("pseudonymized", "calls.initiated_by", _exec(
            conn, f"UPDATE calls t SET initiated_by = NULL WHERE initiated_by = %(u)s "
                  f"AND {not_held('t.organization_id', chr(39) + 'call' + chr(39), 't.id::text')}", p))
        report.kept.append({"what": "calls the subject joined (without the subject's identity)",
                            "rows": scalar(conn, "SELECT count(*) FROM _erase_calls"),
                            "basis": BASIS["calls"]})
    def pseudonymize_kept(table: str, subject_rows: str, update_sql: str) -> None:
        """Rows kept on a legal basis: record held ones, pseudonymize the rest, say why they stay."""
        held_rows(table, subject_rows)
        n = _exec(conn, update_sql, p)
        report.add("pseudonymized", table, n)
        if n:
            report.kept.append({"what": table, "rows": n, "basis": BASIS[table]})

    if "ai_usage" in want:
        pseudonymize_kept("ai_usage", "t.user_id = %(u)s",
                          "UPDATE ai_usage t SET user_id = NULL, metadata = regexp_replace(metadata::text, %(rx)s, "
                          f"%(pseudo)s, 'gi')::jsonb WHERE user_id = %(u)s AND {not_held('t.organization_id')}")
    if "usage_records" in want:
        pseudonymize_kept("usage_records", "t.user_id = %(u)s",
                          "UPDATE usage_records t SET user_id = %(pseudo_uuid)s WHERE user_id = %(u)s "
                          f"AND {not_held('t.organization_id')}")
    if "invoices" in want:
        pseudonymize_kept("invoices", "lower(t.billing_email) = lower(%(email)s)",
                          "UPDATE invoices t SET billing_email = %(pseudo_email)s "
                          "WHERE lower(billing_email) = lower(%(email)s) "
                          f"AND {not_held('t.organization_id', chr(39) + 'invoice' + chr(39), 't.id::text')}")
    if "audit_logs" in want:
        for table in ("audit_logs", "audit_logs_archive", "audit_logs_held"):
            # One pass over the table finds the subject's rows (a cheap LIKE over all text at once; the
            # exact whole-token regex only runs in the UPDATE) and decides the hold for each.
            text = ("lower(concat_ws(' ', t.actor_email, t.resource_id, t.user_agent, t.request_metadata::text, "
                    "t.response_metadata::text, t.old_values::text, t.new_values::text))")
            held_pred = holds.held_predicate("t.organization_id", "t.actor_user_id", "t.resource_type", "t.resource_id")
            reason = holds.reason_expression("t.organization_id", "t.actor_user_id", "t.resource_type", "t.resource_id")
            conn.execute("DROP TABLE IF EXISTS _erase_audit")
            conn.execute(f"CREATE TEMP TABLE _erase_audit AS SELECT t.id, t.occurred_at, {held_pred} AS held "
                         f"FROM {table} t WHERE t.actor_user_id = %(u)s OR {text} LIKE ANY(%(likes)s)", p)
            conn.execute("ANALYZE _erase_audit")
            if table != "audit_logs_held":  # rows in the held table are reported by their hold already
                note_holds(table, f"SELECT {reason}, count(*) FROM {table} t JOIN _erase_audit k "
                                  "ON k.id = t.id AND k.occurred_at = t.occurred_at WHERE k.held GROUP BY 1")
            n = _exec(conn,
                      f"UPDATE {table} t SET "
                      "ip_address = CASE WHEN t.actor_user_id = %(u)s THEN NULL ELSE t.ip_address END, "
                      "actor_user_id = CASE WHEN t.actor_user_id = %(u)s THEN %(pseudo_uuid)s ELSE t.actor_user_id END, "
                      "actor_email = regexp_replace(t.actor_email, %(rx)s, %(pseudo_email)s, 'gi'), "
                      "resource_id = regexp_replace(t.resource_id, %(rx)s, %(pseudo)s, 'gi'), "
                      "user_agent = regexp_replace(t.user_agent, %(rx)s, %(pseudo)s, 'gi'), "
                      "request_metadata = regexp_replace(t.request_metadata::text, %(rx)s, %(pseudo)s, 'gi')::jsonb, "
                      "response_metadata = regexp_replace(t.response_metadata::text, %(rx)s, %(pseudo)s, 'gi')::jsonb, "
                      "old_values = regexp_replace(t.old_values::text, %(rx)s, %(pseudo)s, 'gi')::jsonb, "
                      "new_values = regexp_replace(t.new_values::text, %(rx)s, %(pseudo)s, 'gi')::jsonb "
                      "FROM _erase_audit k WHERE k.id = t.id AND k.occurred_at = t.occurred_at AND NOT k.held", p)
            report.add("pseudonymized", table, n)
        n = sum(v for k, v in report.pseudonymized.items() if k.startswith("audit_logs"))
        if n:
            report.kept.append({"what": "audit events", "rows": n, "basis": BASIS["audit_logs"]})
        for part, lo, hi, loc in conn.execute(
                "SELECT partition_name, min_occurred_at, max_occurred_at, location FROM audit_log_archives "
                "WHERE status = 'dropped' AND row_count > 0 ORDER BY range_start").fetchall():
            report.cold_archives.append({"archive": loc, "partition": part, "from": lo, "to": hi,
                                         "note": "cold archive past retention, kept immutable; restores must "
                                                 "re-apply erasure_ledger pseudonyms before use"})
    if "security_events" in want:
        held_rows("security_events", "t.user_id = %(u)s")
        n = _exec(conn, f"UPDATE security_events t SET user_id = NULL WHERE user_id = %(u)s AND {not_held('t.organization_id')}", p)
        report.add("pseudonymized", "security_events", n)
        if n:
            report.kept.append({"what": "security_events", "rows": n, "basis": BASIS["security_events"]})
    if "api_keys" in want:
        report.add("pseudonymized", "api_keys.created_by", _exec(
            conn, f"UPDATE api_keys t SET created_by = NULL WHERE created_by = %(u)s AND {not_held('t.organization_id')}", p))
        conn.execute("UPDATE custom_reports SET created_by = NULL WHERE created_by = %(u)s", p)
    if "requests" in want:
        report.add("pseudonymized", "compliance_requests", _exec(
            conn, "UPDATE compliance_requests SET subject_email = %(pseudo_email)s, updated_at = now() "
                  "WHERE subject_user_id = %(u)s OR lower(subject_email) = lower(%(email)s)", p))
    if "profile" in want:
        conn.execute("UPDATE users SET email = %(pseudo_email)s, full_name = NULL, phone = NULL, country = NULL, "
                     "locale = 'en', is_active = false, last_login_at = NULL, erased_at = now(), pseudonym = %(pseudo)s "
                     "WHERE id = %(u)s", p)
        report.add("pseudonymized", "users", 1)
        report.kept.append({"what": "users (tombstone)", "rows": 1, "basis": BASIS["profile"]})
    if "sweep" in want:
        for table, n in sweep_identifiers(conn, p).items():
            report.add("pseudonymized", f"{table} (identifier sweep)", n)
    report.views_to_rebuild = dependent_views(conn, list(report.deleted) + list(report.pseudonymized))
    if refresh_views:
        for view in report.views_to_rebuild:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.SQL(view)))
            report.views_rebuilt.append(view)
    # Files last, still inside the transaction: if the commit fails the re-run finds them gone, harmlessly.
    for loc in files_to_delete:
        try:
            report.files_deleted += storage.remove(_fs_url(loc))
        except (OSError, ValueError, storage.StorageUnavailable) as exc:  # a file's own URI: this request's fault
            raise RuntimeError(f"could not delete a file of the subject: {exc.__class__.__name__}") from None
    return report


def _fs_url(uri: str) -> str:
    return uri.removeprefix("file://")


def text_columns(conn: psycopg.Connection) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table) -> [(column, type)] for every text-like and JSON column of every ordinary or
    partitioned table outside the system schemas (partitions are covered by their parent)."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%%' "
        "AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype, "
        "                   'jsonb'::regtype, 'text[]'::regtype, 'name'::regtype) "
        "ORDER BY 1, 2, a.attnum").fetchall()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, col, typ in rows:
        out.setdefault((schema, table), []).append((col, typ))
    return out


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return scalar(conn, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s AND column_name = %s)", (schema, table, column))


def sweep_identifiers(conn: psycopg.Connection, p: dict[str, Any]) -> dict[str, int]:
    """Replace the identifiers in every remaining text/JSON column (tables added by other domains too)."""
    counts: dict[str, int] = {}
    for (schema, table), cols in text_columns(conn).items():
        if table in SWEEP_EXCLUDED or table.startswith("audit_logs"):  # audit tables: handled above, with holds
            continue
        sets, texts = [], []
        for col, typ in cols:
            ident = sql.Identifier(col)
            if typ in ("json", "jsonb"):
                sets.append(sql.SQL("{c} = regexp_replace({c}::text, %(rx)s, %(pseudo)s, 'gi')::{t}").format(c=ident, t=sql.SQL(typ)))
                texts.append(sql.SQL("{c}::text").format(c=ident))
            elif typ == "text[]":
                sets.append(sql.SQL("{c} = (SELECT array_agg(regexp_replace(x, %(rx)s, %(pseudo)s, 'gi')) FROM unnest({c}) x)").format(c=ident))
                texts.append(sql.SQL("array_to_string({c}, ' ')").format(c=ident))
            elif typ.startswith("character(") or typ == "name":
                continue  # fixed-width codes (country, currency) and names cannot hold an identifier
            else:
                sets.append(sql.SQL("{c} = regexp_replace({c}, %(rx)s, %(pseudo)s, 'gi')").format(c=ident))
                texts.append(sql.SQL("{c}::text").format(c=ident))
        if not sets:
            continue
        # A cheap LIKE over all the row's text finds candidates; the exact regex rewrites them.
        where = sql.SQL("lower(concat_ws(' ', {cols})) LIKE ANY(%(likes)s)").format(cols=sql.SQL(", ").join(texts))
        if _has_column(conn, schema, table, "organization_id"):
            where = sql.SQL("({w}) AND NOT legal_hold_applies(organization_id, %(u)s::uuid, NULL, NULL)").format(w=where)
        query = sql.SQL("UPDATE {t} SET {s} WHERE {w}").format(
            t=sql.Identifier(schema, table), s=sql.SQL(", ").join(sets), w=where)
        n = conn.execute(query, p).rowcount or 0
        if n:
            counts[f"{schema}.{table}" if schema != "public" else table] = n
    return counts


def dependent_views(conn: psycopg.Connection, touched: list[str]) -> list[str]:
    """Materialized views that read (directly or through views) from the tables erasure changed."""
    tables = sorted({t.split(" ")[0].split(".")[0] for t in touched})
    rows = conn.execute(
        """WITH RECURSIVE deps AS (
               SELECT DISTINCT r.ev_class AS obj, d.refobjid AS ref FROM pg_rewrite r
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class),
           walk AS (SELECT obj, ref, 1 AS depth FROM deps
                    UNION SELECT w.obj, d.ref, w.depth + 1 FROM walk w JOIN deps d ON d.obj = w.ref WHERE w.depth < 16)
           SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname, c.relname
           FROM walk w JOIN pg_class c ON c.oid = w.obj JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_class t ON t.oid = w.ref JOIN pg_namespace tn ON tn.oid = t.relnamespace
           WHERE c.relkind = 'm' AND tn.nspname = 'public' AND t.relname = ANY(%s)
           ORDER BY 2, 3""", (tables,)).fetchall()
    return [r[0] for r in rows]


def store_report(report: ErasureReport) -> tuple[str, str]:
    location = storage.join(storage.export_root(), "erasure", f"{report.request_id}.json")
    payload = to_json_text({"proof_of_erasure": report.__dict__}).encode("utf-8")
    return location, storage.write_bytes(location, payload)
