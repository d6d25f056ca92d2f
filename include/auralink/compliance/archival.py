"""Lossless archival of audit-log partitions that are wholly past retention (90 days by default).

Per partition, each step re-entrant and recorded on ``audit_log_archives``:

1. rows under a legal hold move to ``audit_logs_held`` (insert, then delete only what is there);
2. the rest is written with PostgreSQL's own ``COPY ... CSV`` (ordered by id) into a gzip file at
   the archive location (temporary name, renamed when complete); rows, sha256 of the CSV text,
   sha256 of the file and the time range are recorded -> ``written``;
3. the file is read back: its CSV text must hash to the recorded sha256 and hold the recorded number
   of rows -> ``verified``;
4. in one transaction the partition is locked against writes, its COPY text re-hashed and compared
   with the archive (a row changed or added since means: archive again), then detached and dropped
   -> ``dropped``. A crash before the commit leaves the partition attached; nothing is lost.

A killed run therefore loses nothing and the next run picks up at the recorded step. Two runs at
once do not collide: each partition is claimed with a session advisory lock.

``AURALINK_ARCHIVE_PAUSE_AT=<step>`` (tests only) makes the run stop at a step (after touching
``<AURALINK_HOME>/archive-paused-<step>``) so a test can SIGKILL it there.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from auralink import config
from auralink.compliance import holds, storage
from auralink.db.connection import scalar

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90
COLUMNS = ["id", "organization_id", "actor_user_id", "actor_email", "actor_type", "action", "resource_type",
           "resource_id", "severity", "outcome", "ip_address", "user_agent", "country", "request_metadata",
           "response_metadata", "old_values", "new_values", "occurred_at"]
_COLS = ", ".join(COLUMNS)
_LOCK_NAMESPACE = 0x41524348  # "ARCH"
STEPS = ("after_held_moved", "mid_write", "after_written", "after_verified", "after_detach")


class ArchiveMismatch(RuntimeError):
    pass


def _pause_point(step: str) -> None:
    """Test hook: stop here (forever) so a test can kill the process at this exact step."""
    if config.env("AURALINK_ARCHIVE_PAUSE_AT") != step:
        return
    (config.home() / f"archive-paused-{step}").write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def _session(conn: psycopg.Connection) -> None:
    # COPY text depends on these; fixing them makes the archive's hash re-computable from the table.
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET DateStyle = 'ISO, MDY'")
    conn.execute("SET extra_float_digits = 1")
    conn.execute("SET IntervalStyle = 'postgres'")


def _copy_sql(partition: str) -> str:
    return f'COPY (SELECT {_COLS} FROM "{partition}" ORDER BY id, occurred_at) TO STDOUT WITH (FORMAT csv, HEADER true)'


def _copy_blocks(conn: psycopg.Connection, name: str, block: int = 1 << 20):
    """The partition's COPY text in ~1 MB blocks (the server sends a message per row; hashing and
    compressing row by row costs more than the COPY itself)."""
    buf = bytearray()
    with conn.cursor().copy(_copy_sql(name)) as copy:
        for chunk in copy:
            buf += chunk
            if len(buf) >= block:
                yield bytes(buf)
                buf.clear()
    if buf:
        yield bytes(buf)


@dataclass
class PartitionResult:
    partition: str
    status: str
    rows: int = 0
    held_rows: int = 0
    location: str | None = None
    note: str = ""
    seconds: dict[str, float] | None = None


def candidate_partitions(conn: psycopg.Connection, cutoff: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    return conn.execute(
        "SELECT partition_name, range_start, range_end FROM monthly_partitions('audit_logs') "
        "WHERE range_end IS NOT NULL AND range_end <= %s ORDER BY range_start", (cutoff,),
    ).fetchall()


def archive_audit_logs(ctx, *, retention_days: int = DEFAULT_RETENTION_DAYS, as_of: dt.datetime | None = None,
                       max_partitions: int | None = None) -> dict[str, Any]:
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    as_of = as_of or dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    cutoff = as_of - dt.timedelta(days=retention_days)
    results: list[PartitionResult] = []
    with ctx.connect(autocommit=True) as conn:
        _session(conn)
        parts = candidate_partitions(conn, cutoff)
        if max_partitions is not None:
            parts = parts[:max_partitions]
        for name, start, end in parts:
            if not scalar(conn, "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, name)):
                ctx.record_item("audit_partition", name, "skipped", "being archived by another run")
                results.append(PartitionResult(name, "locked"))
                continue
            try:
                res = archive_partition(ctx, conn, name, start, end)
                results.append(res)
                ctx.record_item("audit_partition", name, "succeeded",
                                f"{res.rows} rows archived to {res.location}; {res.held_rows} held rows kept")
            except Exception as exc:  # noqa: BLE001 - one bad partition fails alone; the next is tried
                conn.rollback() if not conn.autocommit else None
                conn.execute("UPDATE audit_log_archives SET error = %s, updated_at = now() WHERE partition_name = %s",
                             (f"{exc.__class__.__name__}: {exc}"[:2000], name))
                ctx.record_item("audit_partition", name, "failed", f"{exc.__class__.__name__}: {exc}")
                results.append(PartitionResult(name, "failed", note=str(exc)))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_NAMESPACE, name))
        released = archive_released_held_rows(ctx, conn, cutoff)
    return {
        "cutoff": cutoff.isoformat(),
        "released_rows_archived": released,
        "partitions": len(results),
        "dropped": sum(r.status == "dropped" for r in results),
        "rows_archived": sum(r.rows for r in results if r.status == "dropped"),
        "rows_held": sum(r.held_rows for r in results),
        "results": [r.__dict__ for r in results],
    }


def archive_released_held_rows(ctx, conn: psycopg.Connection, cutoff: dt.datetime) -> int:
    """Rows kept in audit_logs_held whose hold has since been released go the way their partition
    went: to a verified archive file, then out of the table. One transaction: a crash before the
    commit leaves them held (a re-run writes a fresh file), so nothing is lost."""
    if not scalar(conn, "SELECT pg_try_advisory_lock(%s, hashtext('audit_logs_held'))", (_LOCK_NAMESPACE,)):
        return 0
    held = holds.held_predicate("h.organization_id", "h.actor_user_id", "h.resource_type", "h.resource_id")
    try:
        with conn.transaction():
            conn.execute("DROP TABLE IF EXISTS _released_audit")
            conn.execute("CREATE TEMP TABLE _released_audit ON COMMIT DROP AS SELECT h.id, h.occurred_at FROM "
                         f"audit_logs_held h WHERE h.occurred_at < %s AND NOT {held}", (cutoff,))
            n, lo, hi = conn.execute(
                "SELECT count(*), min(occurred_at), max(occurred_at) FROM _released_audit").fetchone() or (0, None, None)
            if n == 0:
                return 0
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            name = f"audit_logs_held_released_{stamp}"
            location = storage.join(storage.archive_root(), "audit_logs", f"{name}.csv.gz")
            copy_sql = (f"COPY (SELECT {', '.join('h.' + c for c in COLUMNS)} FROM audit_logs_held h JOIN _released_audit r "
                        "USING (id, occurred_at) ORDER BY id, occurred_at) TO STDOUT WITH (FORMAT csv, HEADER true)")
            content = hashlib.sha256()
            with storage.atomic_writer(location) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                    conn.cursor().copy(copy_sql) as copy:
                for chunk in copy:
                    content.update(bytes(chunk))
                    gz.write(bytes(chunk))
            content_sha, rows, file_sha = read_archive(location)
            if content_sha != content.hexdigest() or rows != n:
                raise ArchiveMismatch(f"{location} failed read-back ({rows} of {n} rows); released rows stay held")
            conn.execute(
                "INSERT INTO audit_log_archives (partition_name, range_start, range_end, status, location, row_count,"
                " content_sha256, file_sha256, file_bytes, min_occurred_at, max_occurred_at, written_at, verified_at,"
                " dropped_at) VALUES (%s, %s, %s, 'dropped', %s, %s, %s, %s, %s, %s, %s, now(), now(), now())",
                (name, lo, hi + dt.timedelta(microseconds=1), location, n, content_sha, file_sha,
                 storage.file_sha256(location)[1], lo, hi))
            conn.execute("DELETE FROM audit_logs_held h USING _released_audit r WHERE h.id = r.id AND h.occurred_at = r.occurred_at")
        ctx.record_item("audit_released_held_rows", name, "succeeded", f"{n} rows whose hold was released archived to {location}")
        return n
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext('audit_logs_held'))", (_LOCK_NAMESPACE,))


def archive_partition(ctx, conn: psycopg.Connection, name: str, start: dt.datetime, end: dt.datetime) -> PartitionResult:
    # A month archived and dropped before can come back (a late, back-dated event and a re-run of
    # ensure_monthly_partitions): keep the earlier record under another name, archive this one anew.
    conn.execute("UPDATE audit_log_archives SET partition_name = partition_name || '#' || id, updated_at = now() "
                 "WHERE partition_name = %s AND status IN ('dropped', 'superseded')", (name,))
    conn.execute(
        "INSERT INTO audit_log_archives (partition_name, range_start, range_end) VALUES (%s, %s, %s) "
        "ON CONFLICT (partition_name) DO UPDATE SET updated_at = now()", (name, start, end))
    seconds: dict[str, float] = {}

    def step(label: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        seconds[label] = round(seconds.get(label, 0.0) + time.perf_counter() - t0, 3)
        return out

    held = step("move_held", _move_held_rows, ctx, conn, name)
    _pause_point("after_held_moved")
    for _attempt in range(3):
        state = _state(conn, name)
        if state["status"] in ("pending",) or not (state["location"] and storage.exists(state["location"])):
            step("write", _write_archive, conn, name)
            _pause_point("after_written")
            state = _state(conn, name)
        if state["status"] == "written":
            step("verify", _verify_archive, conn, name, state)
            _pause_point("after_verified")
            state = _state(conn, name)
        if state["status"] == "verified" and step("recheck_and_drop", _drop_if_unchanged, conn, name, state):
            return PartitionResult(name, "dropped", state["row_count"], held, state["location"], seconds=seconds)
    raise ArchiveMismatch(f"{name} kept changing while being archived; left attached, will retry next run")


def _state(conn: psycopg.Connection, name: str) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM audit_log_archives WHERE partition_name = %s", (name,))
    cols = [d.name for d in cur.description or ()]
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no archive record for partition {name}")
    return dict(zip(cols, row))


def _move_held_rows(ctx, conn: psycopg.Connection, name: str) -> int:
    held = holds.held_predicate("p.organization_id", "p.actor_user_id", "p.resource_type", "p.resource_id")
    reason = holds.reason_expression("p.organization_id", "p.actor_user_id", "p.resource_type", "p.resource_id")
    with conn.transaction():
        conn.execute(
            f"INSERT INTO audit_logs_held ({_COLS}, hold_reason, source_partition) "
            f'SELECT {", ".join("p." + c for c in COLUMNS)}, COALESCE({reason}, %s), %s FROM "{name}" p WHERE {held} '
            "ON CONFLICT (id, occurred_at) DO NOTHING", ("legal hold", name))
        rows = conn.execute(
            f'DELETE FROM "{name}" p USING audit_logs_held h WHERE h.id = p.id AND h.occurred_at = p.occurred_at '
            f"AND {held} RETURNING h.hold_reason").fetchall()
        if rows:
            conn.execute("UPDATE audit_log_archives SET held_rows = held_rows + %s WHERE partition_name = %s",
                         (len(rows), name))
    by_reason: dict[str, int] = {}
    for (r,) in rows:
        by_reason[r] = by_reason.get(r, 0) + 1
    for r, n in sorted(by_reason.items()):
        ctx.record_item("audit_partition_held_rows", name, "skipped",
                        holds.skip_message(f"{r} ({n} rows moved to audit_logs_held)"))
    return scalar(conn, "SELECT held_rows FROM audit_log_archives WHERE partition_name = %s", (name,))


class _HashingCounter:
    def __init__(self) -> None:
        self.sha = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.sha.update(data)


def _count_csv_records(text_stream: io.TextIOBase) -> int:
    reader = csv.reader(text_stream)
    n = -1  # the header
    for _ in reader:
        n += 1
    return max(n, 0)


def _write_archive(conn: psycopg.Connection, name: str) -> None:
    location = storage.join(storage.archive_root(), "audit_logs", f"{name}.csv.gz")
    taken = conn.execute("SELECT id FROM audit_log_archives WHERE location = %s AND partition_name <> %s",
                         (location, name)).fetchone()
    if taken:  # an earlier incarnation of this month owns that file: never overwrite an archive
        own_id = scalar(conn, "SELECT id FROM audit_log_archives WHERE partition_name = %s", (name,))
        location = storage.join(storage.archive_root(), "audit_logs", f"{name}.{own_id}.csv.gz")
    level = int(config.env("AURALINK_ARCHIVE_GZIP_LEVEL", "5") or 5)
    content = hashlib.sha256()
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        # Same snapshot for the file and its recorded range and count.
        rows, lo, hi = conn.execute(  # an aggregate: always one row
            f'SELECT count(*), min(occurred_at), max(occurred_at) FROM "{name}"').fetchone() or (0, None, None)
        with storage.atomic_writer(location) as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz:
            first = True
            for data in _copy_blocks(conn, name):
                content.update(data)
                gz.write(data)
                if first:
                    first = False
                    _pause_point("mid_write")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    file_sha, size = storage.file_sha256(location)
    conn.execute(
        "UPDATE audit_log_archives SET status = 'written', location = %s, row_count = %s, content_sha256 = %s, "
        "file_sha256 = %s, file_bytes = %s, min_occurred_at = %s, max_occurred_at = %s, written_at = now(), "
        "attempts = attempts + 1, error = NULL, updated_at = now() WHERE partition_name = %s",
        (location, rows, content.hexdigest(), file_sha, size, lo, hi, name))


def read_archive(location: str) -> tuple[str, int, str]:
    """(sha256 of the CSV text, rows, sha256 of the file) of a stored archive."""
    content = hashlib.sha256()
    file_digest = hashlib.sha256()

    class _Tee(io.RawIOBase):
        def __init__(self, fh):
            self.fh = fh

        def readable(self):
            return True

        def readinto(self, b):
            data = self.fh.read(len(b))
            file_digest.update(data)
            b[:len(data)] = data
            return len(data)

    with storage.open_read(location) as fh:
        gz = gzip.GzipFile(fileobj=io.BufferedReader(_Tee(fh), 1 << 20), mode="rb")

        class _HashStream(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                data = gz.read(len(b))
                content.update(data)
                b[:len(data)] = data
                return len(data)

        text = io.TextIOWrapper(io.BufferedReader(_HashStream(), 1 << 20), encoding="utf-8", newline="")
        rows = _count_csv_records(text)
        # Drain anything the CSV reader did not consume (nothing, normally) so both digests cover it all.
        while text.read(1 << 20):
            pass
        while fh.read(1 << 20):
            pass
    return content.hexdigest(), rows, file_digest.hexdigest()


def _verify_archive(conn: psycopg.Connection, name: str, state: dict[str, Any]) -> None:
    content_sha, rows, file_sha = read_archive(state["location"])
    problems = []
    if rows != state["row_count"]:
        problems.append(f"rows {rows} != recorded {state['row_count']}")
    if content_sha != state["content_sha256"]:
        problems.append("content checksum differs")
    if file_sha != state["file_sha256"]:
        problems.append("file checksum differs")
    if problems:
        conn.execute("UPDATE audit_log_archives SET status = 'pending', error = %s, updated_at = now() "
                     "WHERE partition_name = %s", ("read-back failed: " + "; ".join(problems), name))
        log.warning("archive of %s failed read-back (%s); writing it again", name, problems)
        return
    conn.execute("UPDATE audit_log_archives SET status = 'verified', verified_at = now(), updated_at = now() "
                 "WHERE partition_name = %s", (name,))


def _table_digest(conn: psycopg.Connection, name: str) -> str:
    content = hashlib.sha256()
    for data in _copy_blocks(conn, name):
        content.update(data)
    return content.hexdigest()


def _drop_if_unchanged(conn: psycopg.Connection, name: str, state: dict[str, Any]) -> bool:
    """Detach and drop the partition if it still holds exactly what the verified archive holds."""
    with conn.transaction():
        if scalar(conn, "SELECT to_regclass(%s) IS NULL", (name,)):
            conn.execute("UPDATE audit_log_archives SET status = 'superseded', updated_at = now(), "
                         "error = 'partition was dropped by another path' WHERE partition_name = %s", (name,))
            return True
        conn.execute(f'LOCK TABLE "{name}" IN SHARE MODE')  # no writes until we commit
        if _table_digest(conn, name) != state["content_sha256"]:
            conn.execute("UPDATE audit_log_archives SET status = 'pending', updated_at = now(), "
                         "error = 'partition changed after archiving; archiving again' WHERE partition_name = %s", (name,))
            return False
        # With a DEFAULT partition DETACH cannot be CONCURRENTLY and takes ACCESS EXCLUSIVE on audit_logs:
        # short lock_timeout attempts with backoff, so inserts never queue behind it for long.
        conn.execute("SELECT exec_with_lock_retry(%s, ARRAY[%s])", (name, f'ALTER TABLE audit_logs DETACH PARTITION "{name}"'))
        _pause_point("after_detach")
        conn.execute(f'DROP TABLE "{name}"')
        conn.execute("UPDATE audit_log_archives SET status = 'dropped', dropped_at = now(), error = NULL, "
                     "updated_at = now() WHERE partition_name = %s", (name,))
    return True


def restore_sql_hint(location: str) -> str:
    """How to load an archive back (documentation and reports)."""
    return (f"gunzip -c {location} | psql -c \"\\copy audit_logs_archive ({_COLS}) FROM STDIN WITH (FORMAT csv, HEADER true)\"")
