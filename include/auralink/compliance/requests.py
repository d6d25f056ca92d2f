"""Data-subject requests: submission with the Art. 12(3) deadline, the batch processor (export,
erasure, rectification), extensions and overdue flags.

A bad request (unknown subject, unsupported format or type, duplicate) ends ``rejected`` with a
clear ``error`` on its row; an unexpected failure ends ``failed`` with the error; either way the
batch goes on. Requests are claimed with ``FOR UPDATE SKIP LOCKED``, so two processors never take
the same one; an ``in_progress`` request whose processor died is taken again after an hour.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink.compliance import deadlines, erasure, exports, storage
from auralink.compliance.scope import (  # noqa: F401 - RECTIFIABLE, REQUEST_TYPES: this module's API too
    RECTIFIABLE,
    REQUEST_TYPES,
    STANDARDS,
    RequestRejected,
    Scope,
    parse_request_type,
    parse_scope,
    scope_document,
)
from auralink.compliance.subject import Subject, UnknownSubject, gather, resolve_subject
from auralink.crypto import SecretKeyError
from auralink.db.connection import scalar
from auralink.jobs import JobFailed

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=1)
TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure, psycopg.errors.LockNotAvailable)
# The deployment, not the request, is at fault (no or a bad AURALINK_SECRET_KEY, export storage that cannot
# be written): every request would fail the same way, so the job fails and nothing is consumed.
CONFIGURATION_ERRORS = (SecretKeyError, storage.StorageUnavailable)
MAX_ATTEMPTS = 3


class UnknownReference(LookupError):
    """An id given with the request names no organization or user."""


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise RequestRejected(f"{what} {str(value)[:60]!r} is not a uuid") from None


def _text(value: Any, what: str, max_chars: int = 320) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars or "\x00" in value:
        raise RequestRejected(f"{what} must be text of at most {max_chars} characters without NUL")
    return value


def submit_request(conn: psycopg.Connection, *, organization_id: Any, request_type: str,
                   subject_email: str | None = None, subject_user_id: Any = None, export_format: str = "json",
                   standard: str = "GDPR", scope: Any = None, requested_by: str | None = None,
                   received_at: dt.datetime | None = None) -> uuid.UUID:
    """Record a request with its deadline. Anything the processor will refuse is still recorded (and
    then rejected with the reason), so the requester gets an answer on the row. What the table cannot
    hold is refused here instead: RequestRejected (type, standard, scope that is not a JSON object, text
    with NUL) or UnknownReference (no such organization or user)."""
    received_at = received_at or dt.datetime.now(dt.UTC)
    request_type = parse_request_type(request_type)
    if standard not in STANDARDS:
        raise RequestRejected(f"unsupported standard {str(standard)[:40]!r} (supported: {', '.join(STANDARDS)})")
    scope = dict(scope_document(scope))
    subject_email = _text(subject_email, "subject e-mail")
    requested_by = _text(requested_by, "requested_by")
    organization_id = _uuid(organization_id, "organization id")
    if not scalar(conn, "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = %s AND deleted_at IS NULL)",
                  (organization_id,)):
        raise UnknownReference(f"no organization {organization_id}")
    if subject_user_id is not None:
        subject_user_id = _uuid(subject_user_id, "subject user id")
        if not scalar(conn, "SELECT EXISTS (SELECT 1 FROM users WHERE id = %s)", (subject_user_id,)):
            raise UnknownReference(f"no user {subject_user_id}")
    elif subject_email:
        # Resolved now, so everything keyed by the subject (their earlier exports, above all) finds the
        # request; an e-mail no user has stays for the processor to reject with a reason.
        row = conn.execute("SELECT id FROM users WHERE lower(email) = lower(%s) AND erased_at IS NULL",
                           (subject_email.strip(),)).fetchone()
        subject_user_id = row[0] if row else None
    fmt = str(export_format or "json").lower()
    if fmt not in exports.FORMATS:  # the column only admits supported formats; keep what was asked
        scope["format"] = fmt
        fmt = "json"
    row = conn.execute(
        "INSERT INTO compliance_requests (organization_id, subject_user_id, subject_email, request_type, standard,"
        " export_format, scope, requested_by, received_at, due_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (organization_id, subject_user_id, subject_email, request_type, standard, fmt, Jsonb(scope), requested_by,
         received_at, deadlines.due_date(received_at))).fetchone()
    assert row is not None  # INSERT ... RETURNING one row
    return row[0]


def extend_deadline(conn: psycopg.Connection, request_id: Any, reason: str) -> dt.datetime:
    """Art. 12(3): extend once by two further months, with the reason recorded."""
    if not reason or not reason.strip():
        raise ValueError("an extension needs a reason (GDPR Art. 12(3): the subject must be told why)")
    row = conn.execute("SELECT due_at, extended_due_at, status FROM compliance_requests WHERE id = %s FOR UPDATE",
                       (request_id,)).fetchone()
    if row is None:
        raise ValueError(f"no compliance request {request_id}")
    due_at, extended, status = row
    if extended is not None:
        raise ValueError(f"request {request_id} was already extended (to {extended:%Y-%m-%d}); Art. 12(3) allows one extension")
    if status not in ("pending", "in_progress"):
        raise ValueError(f"request {request_id} is {status}; only open requests can be extended")
    new_due = deadlines.extended_due_date(due_at)
    conn.execute("UPDATE compliance_requests SET extended_due_at = %s, extension_reason = %s, is_overdue = false,"
                 " updated_at = now() WHERE id = %s", (new_due, reason.strip(), request_id))
    return new_due


def flag_overdue(conn: psycopg.Connection, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    flagged = conn.execute(
        "UPDATE compliance_requests SET is_overdue = true, updated_at = now() WHERE status IN ('pending', 'in_progress')"
        " AND COALESCE(extended_due_at, due_at) < %s AND NOT is_overdue RETURNING id", (now,)).fetchall()
    cleared = conn.execute(
        "UPDATE compliance_requests SET is_overdue = false, updated_at = now() WHERE is_overdue AND"
        " (status NOT IN ('pending', 'in_progress') OR COALESCE(extended_due_at, due_at) >= %s) RETURNING id", (now,)).fetchall()
    return {"flagged": len(flagged), "cleared": len(cleared), "flagged_ids": [str(r[0]) for r in flagged]}


def claim(conn: psycopg.Connection, batch_size: int, request_id: Any = None) -> list[dict[str, Any]]:
    cur = conn.execute(
        "UPDATE compliance_requests r SET status = 'in_progress', started_at = now(), attempts = attempts + 1,"
        " updated_at = now() WHERE id IN (SELECT id FROM compliance_requests"
        "   WHERE (status = 'pending' OR (status = 'in_progress' AND started_at < now() - %s AND attempts < %s))"
        "   AND (%s::uuid IS NULL OR id = %s::uuid)"
        "   ORDER BY received_at, id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING r.*",
        (STALE_AFTER, MAX_ATTEMPTS, request_id, request_id, batch_size))
    cols = [d.name for d in cur.description or ()]
    return sorted((dict(zip(cols, r)) for r in cur.fetchall()), key=lambda r: (r["received_at"], str(r["id"])))


def _duplicate_of(conn: psycopg.Connection, req: dict[str, Any], subject: Subject) -> Any:
    """An earlier request for the same subject and type that was still open when this one arrived."""
    row = conn.execute(
        "SELECT id FROM compliance_requests o WHERE o.id <> %(id)s AND o.organization_id = %(org)s"
        " AND o.request_type = %(type)s AND o.status NOT IN ('rejected', 'failed')"
        " AND (o.subject_user_id = %(u)s OR lower(o.subject_email) = lower(%(email)s))"
        " AND (o.received_at, o.id::text) < (%(received)s, %(id)s::text)"
        " AND (o.completed_at IS NULL OR o.completed_at >= %(received)s)"
        " ORDER BY o.received_at LIMIT 1",
        {"id": req["id"], "org": req["organization_id"], "type": req["request_type"], "u": subject.user_id,
         "email": subject.email, "received": req["received_at"]}).fetchone()
    return row[0] if row else None


def _validate(conn: psycopg.Connection, req: dict[str, Any]) -> tuple[Subject, str, Scope]:
    request_type = parse_request_type(req["request_type"])
    scope = parse_scope(req["scope"], request_type)
    fmt = scope.format or str(req["export_format"]).lower()
    if request_type == "export" and fmt not in exports.FORMATS:
        raise RequestRejected(f"unsupported export format {fmt!r} (supported: {', '.join(exports.FORMATS)})")
    try:
        subject = resolve_subject(conn, req["subject_user_id"], req["subject_email"])
    except UnknownSubject as exc:
        raise RequestRejected(str(exc)) from None
    if subject.erased:
        raise RequestRejected("the data subject was already erased; nothing identifiable is left")
    member = scalar(conn, "SELECT EXISTS (SELECT 1 FROM organization_members WHERE organization_id = %s AND user_id = %s)",
                          (req["organization_id"], subject.user_id))
    if not member:
        raise RequestRejected(f"unknown data subject: the user is not a member of organization {req['organization_id']}")
    dup = _duplicate_of(conn, req, subject)
    if dup:
        raise RequestRejected(f"duplicate request: request {dup} for the same subject and type was still open when "
                              "this one was received")
    return subject, fmt, scope


def _finish(conn: psycopg.Connection, request_id: Any, status: str, *, error: str | None = None,
            location: str | None = None, checksum: str | None = None) -> None:
    conn.execute(
        "UPDATE compliance_requests SET status = %s, error = %s, result_location = COALESCE(%s, result_location),"
        " result_checksum = COALESCE(%s, result_checksum), completed_at = CASE WHEN %s IN ('completed', 'rejected')"
        " THEN now() ELSE completed_at END, is_overdue = CASE WHEN %s IN ('completed', 'rejected') THEN false"
        " ELSE is_overdue END, updated_at = now() WHERE id = %s",
        (status, error, location, checksum, status, status, request_id))


def process_requests(ctx, *, batch_size: int = 20, request_id: Any = None, refresh_views: bool = True,
                     lock_timeout_seconds: int = 120) -> dict[str, Any]:
    stats = {"claimed": 0, "completed": 0, "rejected": 0, "failed": 0}
    with ctx.connect() as conn:
        claimed = claim(conn, batch_size, request_id)
        conn.commit()
    stats["claimed"] = len(claimed)
    for i, req in enumerate(claimed):
        rid = req["id"]
        try:
            with ctx.connect() as conn, conn.transaction():
                # Never queue for long behind another job's lock (the archival's detach, a retention
                # delete): give up, leave the request pending, and let the next run take it.
                conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_seconds)}s'")
                subject, fmt, scope = _validate(conn, req)
                location, checksum = _carry_out(ctx, conn, req, subject, fmt, scope, refresh_views)
                _finish(conn, rid, "completed", location=location, checksum=checksum)
            stats["completed"] += 1
            ctx.record_item("compliance_request", rid, "succeeded", f"{req['request_type']} completed")
        except (RequestRejected, erasure.ErasureBlocked) as exc:
            with ctx.connect(autocommit=True) as conn:
                _finish(conn, rid, "rejected", error=str(exc))
            stats["rejected"] += 1
            ctx.record_item("compliance_request", rid, "failed", f"rejected: {exc}")
        except CONFIGURATION_ERRORS as exc:
            left = [r["id"] for r in claimed[i:]]
            with ctx.connect(autocommit=True) as conn:
                _unclaim(conn, left)
            raise JobFailed(f"{exc} (a configuration error: {len(left)} request(s) left pending, "
                            "none consumed)") from None
        except TRANSIENT as exc:
            # Lost a lock race (e.g. with the audit archival detaching a partition): try again next run.
            with ctx.connect(autocommit=True) as conn:
                _finish(conn, rid, "pending", error=f"will retry after a transient error: {exc.__class__.__name__}")
            stats["retry"] = stats.get("retry", 0) + 1
            ctx.record_item("compliance_request", rid, "skipped", f"transient {exc.__class__.__name__}; left pending")
        except Exception as exc:  # one request fails alone; recorded on its row
            log.exception("compliance request %s failed", rid)
            with ctx.connect(autocommit=True) as conn:
                _finish(conn, rid, "failed", error=f"{exc.__class__.__name__}: {exc}"[:2000])
            stats["failed"] += 1
            ctx.record_item("compliance_request", rid, "failed", f"{exc.__class__.__name__}: {exc}"[:500])
    return stats


def _unclaim(conn: psycopg.Connection, request_ids: list[Any]) -> None:
    """Hand claimed requests back untouched: pending again, and the claim not counted as an attempt."""
    conn.execute("UPDATE compliance_requests SET status = 'pending', attempts = GREATEST(attempts - 1, 0),"
                 " updated_at = now() WHERE id = ANY(%s) AND status = 'in_progress'", (request_ids,))


def _carry_out(ctx, conn: psycopg.Connection, req: dict[str, Any], subject: Subject, fmt: str, scope: Scope,
               refresh_views: bool) -> tuple[str, str]:
    org_filter = req["organization_id"] if scope.organization_only else None
    if req["request_type"] == "export":
        return export_subject(conn, req, subject, fmt, org_filter)
    if req["request_type"] == "deletion":
        report = erasure.erase(conn, subject, request_id=req["id"], organization_id=req["organization_id"],
                               categories=scope.categories, refresh_views=refresh_views,
                               record_skip=lambda t, i, r: ctx.record_item(t, i, "skipped", r))
        location, checksum = erasure.store_report(report, subject)
        conn.execute("INSERT INTO erasure_ledger (request_id, pseudonym, report_location, report_sha256, summary)"
                     " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (request_id) DO UPDATE SET performed_at = now(),"
                     " report_location = EXCLUDED.report_location, report_sha256 = EXCLUDED.report_sha256,"
                     " summary = EXCLUDED.summary",
                     (req["id"], report.pseudonym, location, checksum, Jsonb(erasure.summary(report))))
        return location, checksum
    return rectify(conn, req, subject, scope)


def export_subject(conn: psycopg.Connection, req: dict[str, Any], subject: Subject, fmt: str,
                   org_filter: Any = None) -> tuple[str, str]:
    data = gather(conn, subject, org_filter)
    meta = {"request_id": str(req["id"]), "organization_id": str(req["organization_id"]),
            "subject": str(subject.user_id), "subject_email": subject.email, "format": fmt,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(),
            "legal_basis": "GDPR Art. 15 (access) and Art. 20 (portability)",
            "scope": "organization" if org_filter else "all organizations"}
    payload = exports.render(fmt, meta, data)
    location = storage.join(storage.export_root(), "subject", f"{req['id']}.{exports.EXTENSIONS[fmt]}")
    checksum = storage.write_bytes(location, payload)
    return location, checksum


def rectify(conn: psycopg.Connection, req: dict[str, Any], subject: Subject,
            scope: Scope | None = None) -> tuple[str, str]:
    changes = (scope or parse_scope(req["scope"], "rectification")).changes
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    try:
        with conn.transaction():
            conn.execute(f"UPDATE users SET {sets} WHERE id = %(uid)s", {**changes, "uid": subject.user_id})
    except psycopg.errors.IntegrityError as exc:
        raise RequestRejected(f"rectification refused by the database: {exc.diag.message_primary}") from None
    note = exports.to_json_text({"request_id": str(req["id"]), "rectified_fields": sorted(changes)}).encode()
    location = storage.join(storage.export_root(), "rectification", f"{req['id']}.json")
    return location, storage.write_bytes(location, note)
