"""Nightly retention: each enabled ``data_retention_policies`` row (organization x resource type)
deletes, anonymizes or archives what is older than its ``retention_days``.

Rows under a legal hold are never touched (``legal_hold_applies`` with the row's organization, user,
resource type and id); the job records them as skipped with the hold's reason. Each policy is applied
in its own transaction, claimed with ``FOR UPDATE SKIP LOCKED`` (two runs at once split the work),
and recorded in ``retention_runs``. "archive" writes the rows to a gzip CSV at the archive location,
reads it back and checks the row count and checksum before deleting them (same transaction).
Recordings: delete/anonymize remove the audio file and mark the row deleted; archive moves the audio
to the archive location (copy, verify, then delete the original).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import logging
import shutil
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink.compliance import holds, storage
from auralink.compliance.archival import _count_csv_records  # same CSV record counting as the audit archive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    table: str
    ts: str                      # the age column
    key: tuple[str, ...]         # natural key, for the archive's select-then-delete
    org: str = "t.organization_id"
    user: str = "NULL::uuid"
    rtype: str = "NULL::text"
    rid: str = "NULL::text"
    join: str = ""               # extra FROM item (joined with AND in where)
    join_on: str = "true"
    extra: str = "true"          # rows this resource type covers at all
    anonymize_set: str | None = None
    anonymized: str = "false"    # already anonymized (skip them)


RESOURCES: dict[str, Resource] = {
    "recordings": Resource("call_recordings", "t.created_at", ("id",), rtype="'recording'", rid="t.id::text",
                           extra="t.status <> 'deleted'"),
    "transcripts": Resource("transcriptions", "t.created_at", ("id",), rtype="'transcript'", rid="t.id::text",
                            anonymize_set="text = COALESCE(redacted_text, '[removed by retention]'), "
                                          "segments = '[]'::jsonb, updated_at = now()",
                            anonymized="t.segments = '[]'::jsonb AND t.text IS NOT DISTINCT FROM COALESCE(t.redacted_text, '[removed by retention]')"),
    "summaries": Resource("call_summaries", "t.created_at", ("id",), rtype="'summary'", rid="t.id::text",
                          anonymize_set="summary = '[removed by retention]', action_items = '[]'::jsonb, updated_at = now()",
                          anonymized="t.summary = '[removed by retention]'"),
    "audit_logs": Resource("audit_logs", "t.occurred_at", ("id", "occurred_at"), user="t.actor_user_id",
                           rtype="t.resource_type", rid="t.resource_id",
                           anonymize_set="actor_email = NULL, ip_address = NULL, user_agent = NULL",
                           anonymized="t.actor_email IS NULL AND t.ip_address IS NULL AND t.user_agent IS NULL"),
    "usage_records": Resource("usage_records", "t.recorded_at", ("id", "recorded_at"), user="t.user_id",
                              anonymize_set="user_id = NULL", anonymized="t.user_id IS NULL"),
    "ai_usage": Resource("ai_usage", "t.occurred_at", ("id",), user="t.user_id",
                         anonymize_set="user_id = NULL, metadata = '{}'::jsonb",
                         anonymized="t.user_id IS NULL AND t.metadata = '{}'::jsonb"),
    "quality_samples": Resource("call_quality_samples", "t.sampled_at", ("id",), org="c.organization_id",
                                join="calls c", join_on="c.id = t.call_id",
                                # Network measurements carry no identity beyond the participant link.
                                anonymize_set=None),
    "compliance_exports": Resource("compliance_requests", "t.completed_at", ("id",), user="t.subject_user_id",
                                   rtype="'compliance_export'", rid="t.id::text",
                                   extra="t.request_type = 'export' AND t.result_location IS NOT NULL"),
}


def _where(res: Resource) -> str:
    return f"{res.org} = %(org)s AND {res.ts} < %(cutoff)s AND {res.join_on} AND {res.extra}"


def _held(res: Resource) -> str:
    return holds.held_predicate(res.org, res.user, res.rtype, res.rid)


def _from(res: Resource) -> str:
    return f"{res.table} t" + (f", {res.join}" if res.join else "")


def apply_policies(ctx, *, as_of: dt.datetime | None = None, organization_id: str | None = None) -> dict[str, Any]:
    as_of = as_of or dt.datetime.now(dt.UTC)
    with ctx.connect(autocommit=True) as conn:
        policies = conn.execute(
            "SELECT id FROM data_retention_policies WHERE enabled AND (%s::uuid IS NULL OR organization_id = %s::uuid)"
            " ORDER BY organization_id, resource_type", (organization_id, organization_id)).fetchall()
    totals = {"policies": len(policies), "applied": 0, "skipped": 0, "failed": 0, "rows_affected": 0,
              "files_deleted": 0, "rows_held": 0}
    # One connection for every policy (a transaction each): an organization's policies are mostly no-ops
    # on a given night, and a new connection per policy cost more than the policy.
    work: psycopg.Connection | None = None
    try:
        for (policy_id,) in policies:
            if work is None or work.closed or work.broken:
                work = ctx.connect()
            _apply_one(ctx, work, policy_id, as_of, totals)
    finally:
        if work is not None:
            work.close()
    return totals


def _apply_one(ctx, conn: psycopg.Connection, policy_id: int, as_of: dt.datetime, totals: dict[str, Any]) -> None:
    try:
        outcome = apply_policy(ctx, policy_id, as_of, conn)
    except Exception as exc:
        log.exception("retention policy %s failed", policy_id)
        with ctx.connect(autocommit=True) as rec:
            rec.execute(
                "INSERT INTO retention_runs (job_run_id, policy_id, organization_id, resource_type, action,"
                " retention_days, cutoff, status, error, finished_at) SELECT %s, id, organization_id, resource_type,"
                " action, retention_days, %s - make_interval(days => retention_days), 'failed', %s, now()"
                " FROM data_retention_policies WHERE id = %s",
                (ctx.run_id, as_of, f"{exc.__class__.__name__}: {exc}"[:2000], policy_id))
        ctx.record_item("retention_policy", policy_id, "failed", f"{exc.__class__.__name__}: {exc}"[:500])
        totals["failed"] += 1
        return
    if outcome is None:
        totals["skipped"] += 1
        return
    totals["applied"] += 1
    for k in ("rows_affected", "files_deleted", "rows_held"):
        totals[k] += outcome[k]


def apply_policy(ctx, policy_id: int, as_of: dt.datetime, conn: psycopg.Connection) -> dict[str, Any] | None:
    """Apply one policy in its own transaction on ``conn`` (not in one already)."""
    with conn.transaction():
        row = conn.execute("SELECT organization_id, resource_type, retention_days, action FROM data_retention_policies"
                           " WHERE id = %s AND enabled FOR UPDATE SKIP LOCKED", (policy_id,)).fetchone()
        if row is None:
            ctx.record_item("retention_policy", policy_id, "skipped", "being applied by another run (or disabled)")
            return None
        org, rtype, days, action = row
        res = RESOURCES[rtype]
        cutoff = as_of - dt.timedelta(days=days)
        p = {"org": org, "cutoff": cutoff}
        held = _record_held(ctx, conn, res, p, policy_id, rtype)
        outcome: dict[str, Any] = {"rows_affected": 0, "files_deleted": 0, "rows_held": held,
                                   "archive_location": None, "details": {}}
        if rtype == "recordings":
            _recordings(conn, res, p, action, outcome, policy_id)
        elif rtype == "compliance_exports":
            _exports(conn, res, p, outcome)
        elif action == "delete":
            outcome["rows_affected"] = conn.execute(
                f"DELETE FROM {res.table} t " + (f"USING {res.join} " if res.join else "")
                + f"WHERE {_where(res)} AND NOT {_held(res)}", p).rowcount
        elif action == "anonymize":
            if res.anonymize_set is None:
                outcome["details"]["note"] = f"{rtype} hold no personal data beyond their links; nothing to anonymize"
            else:
                outcome["rows_affected"] = conn.execute(
                    f"UPDATE {res.table} t SET {res.anonymize_set} " + (f"FROM {res.join} " if res.join else "")
                    + f"WHERE {_where(res)} AND NOT ({res.anonymized}) AND NOT {_held(res)}", p).rowcount
        else:
            _archive_rows(conn, res, p, rtype, policy_id, as_of, outcome)
        conn.execute(
            "INSERT INTO retention_runs (job_run_id, policy_id, organization_id, resource_type, action, retention_days,"
            " cutoff, status, rows_affected, files_deleted, rows_held, archive_location, details, finished_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,'succeeded',%s,%s,%s,%s,%s,now())",
            (ctx.run_id, policy_id, org, rtype, action, days, cutoff, outcome["rows_affected"], outcome["files_deleted"],
             held, outcome["archive_location"], Jsonb(outcome["details"])))
    ctx.record_item("retention_policy", policy_id, "succeeded",
                    f"{action} {rtype} older than {days} days: {outcome['rows_affected']} rows, "
                    f"{outcome['files_deleted']} files, {held} held")
    return outcome


def _record_held(ctx, conn: psycopg.Connection, res: Resource, p: dict[str, Any], policy_id: int, rtype: str) -> int:
    rows = conn.execute(
        f"SELECT {holds.reason_expression(res.org, res.user, res.rtype, res.rid)}, count(*) FROM {_from(res)} "
        f"WHERE {_where(res)} AND {_held(res)} GROUP BY 1", p).fetchall()
    for reason, n in rows:
        ctx.record_item(f"retention:{rtype}", policy_id, "skipped", holds.skip_message(f"{reason} ({n} rows kept)"))
    return sum(n for _, n in rows)


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


def _recordings(conn, res: Resource, p: dict[str, Any], action: str, outcome: dict[str, Any], policy_id: int) -> None:
    rows = conn.execute(
        f"SELECT t.id, t.storage_uri FROM {_from(res)} WHERE {_where(res)} AND NOT {_held(res)} FOR UPDATE OF t", p).fetchall()
    moved = 0
    for rec_id, uri in rows:
        if action == "archive" and storage.exists(_local(uri)):
            target = storage.join(storage.archive_root(), "recordings", str(p["org"]), f"{rec_id}{_suffix(uri)}")
            with storage.open_read(_local(uri)) as src, storage.atomic_writer(target) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if storage.file_sha256(target) != storage.file_sha256(_local(uri)):
                raise RuntimeError(f"archived copy of recording {rec_id} does not match the original")
            conn.execute("UPDATE call_recordings SET storage_uri = %s WHERE id = %s", (target, rec_id))
            moved += 1
        else:
            conn.execute("UPDATE call_recordings SET status = 'deleted', deleted_at = now(), size_bytes = NULL"
                         " WHERE id = %s", (rec_id,))
        outcome["files_deleted"] += storage.remove(_local(uri))
    outcome["rows_affected"] = len(rows)
    if action == "archive":
        outcome["details"]["audio_moved_to_archive"] = moved
        outcome["archive_location"] = storage.join(storage.archive_root(), "recordings", str(p["org"]))


def _suffix(uri: str) -> str:
    name = uri.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[1] if "." in name else ""


def _exports(conn, res: Resource, p: dict[str, Any], outcome: dict[str, Any]) -> None:
    rows = conn.execute(f"SELECT t.id, t.result_location FROM {_from(res)} WHERE {_where(res)} AND NOT {_held(res)}"
                        " FOR UPDATE OF t", p).fetchall()
    for req_id, loc in rows:
        outcome["files_deleted"] += storage.remove(loc)
        conn.execute("UPDATE compliance_requests SET result_location = NULL, updated_at = now() WHERE id = %s", (req_id,))
    outcome["rows_affected"] = len(rows)


def _archive_rows(conn, res: Resource, p: dict[str, Any], rtype: str, policy_id: int, as_of: dt.datetime,
                  outcome: dict[str, Any]) -> None:
    keys = ", ".join(f"t.{k}" for k in res.key)
    conn.execute("DROP TABLE IF EXISTS _retention_keys")
    conn.execute(f"CREATE TEMP TABLE _retention_keys ON COMMIT DROP AS SELECT {keys} FROM {_from(res)} "
                 f"WHERE {_where(res)} AND NOT {_held(res)}", p)
    n = conn.execute("SELECT count(*) FROM _retention_keys").fetchone()[0]
    if n == 0:
        return
    on = " AND ".join(f"t.{k} = k.{k}" for k in res.key)
    location = storage.join(storage.archive_root(), "retention", rtype, str(p["org"]),
                            f"{as_of:%Y%m%dT%H%M%S}-policy{policy_id}.csv.gz")
    digest = hashlib.sha256()
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    copy_sql = (f"COPY (SELECT t.* FROM {res.table} t JOIN _retention_keys k ON {on} ORDER BY {keys}) "
                "TO STDOUT WITH (FORMAT csv, HEADER true)")
    with storage.atomic_writer(location) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            conn.cursor().copy(copy_sql) as copy:
        for chunk in copy:
            digest.update(bytes(chunk))
            gz.write(bytes(chunk))
    with storage.open_read(location) as fh:
        data = gzip.decompress(fh.read())
    rows_back = _count_csv_records(io.StringIO(data.decode("utf-8"), newline=""))
    if hashlib.sha256(data).hexdigest() != digest.hexdigest() or rows_back != n:
        raise RuntimeError(f"archive {location} failed read-back ({rows_back} rows of {n}); nothing deleted")
    outcome["rows_affected"] = conn.execute(f"DELETE FROM {res.table} t USING _retention_keys k WHERE {on}").rowcount
    outcome["archive_location"] = location
    outcome["details"].update({"archived_rows": n, "sha256": digest.hexdigest()})
