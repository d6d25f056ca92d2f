"""Lossless archival of audit-log partitions that are wholly past retention (90 days by default), in one
pass over each partition.

Per partition, one transaction:

1. the partition is locked against writes (SHARE: readers go on; it is wholly past retention, so only a
   rare back-dated event could want it), and so is ``legal_holds`` (no hold placed or released mid-pass);
2. rows under a legal hold move to ``audit_logs_held``, found by joining the holds in force
   (``legal_holds_in_force()``, the companion of ``legal_hold_applies``);
3. the rest is streamed once with PostgreSQL's ``COPY ... CSV`` into a zstd file at the archive location
   (temporary name, renamed when complete), hashed as it streams; the server's COPY count is the rows;
4. the file is read back: its CSV text must hash to what was streamed and hold as many rows;
5. the partition is detached (short ``lock_timeout`` attempts with backoff: inserts never queue behind
   it for long) and dropped, and ``audit_log_archives`` records the archive -> ``dropped``.

Months are archived ``workers`` at a time (the job's parameter), each in its own transaction on its own
connection: one streams while another moves held rows or reads its file back, and months waiting to
detach share the same moment between readers.

A crash anywhere before the commit rolls all of it back: the partition stays attached with every row, and
the next run starts the partition again (the file is rewritten). Nothing is lost. A back-dated insert
that arrives for the month while it is being archived waits for the lock; the pass then gives way (rolls
back, so the insert lands) and archives the partition again with the new row. Two runs at once do not
collide: each partition is claimed with a session advisory lock. Archives written before this (gzip,
``.csv.gz``) still verify and restore.

Restore one partition (standard tools):
``zstd -dc audit_logs_p202605.csv.zst | psql -c "\\copy audit_logs_archive (<columns>) FROM STDIN WITH (FORMAT csv, HEADER true)"``
(``gunzip -c`` for ``.csv.gz``); :func:`restore_sql_hint` prints the exact command.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
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
DETACH_MAX_WAIT_S = 120.0  # then the month stays attached and is archived on a later night
DETACH_PAUSE_S = 0.03
NO_HOLDS = "false"  # held_rows_predicate() when no hold is in force: nothing to keep, nothing to leave out
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


# The archive's COPY: the partition's rows but the held ones (``held``: a predicate on ``p``). No ORDER BY:
# the file is hashed as it streams, so nothing needs to reproduce it.
def copy_sql(partition: str, held: str = NO_HOLDS) -> str:
    where = "" if held == NO_HOLDS else f" WHERE {held} IS NOT TRUE"
    return f'COPY (SELECT {_COLS} FROM "{partition}" p{where}) TO STDOUT WITH (FORMAT csv, HEADER true)'


def _blocks(chunks, block: int = 1 << 20) -> Iterator[bytes]:
    """COPY's messages (one per row) coalesced into ~1 MB blocks: hashing and compressing row by row
    costs more than the COPY itself."""
    buf = bytearray()
    for chunk in chunks:
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
    held: dict[str, int] = field(default_factory=dict)  # rows moved to audit_logs_held, by hold reason


def candidate_partitions(conn: psycopg.Connection, cutoff: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    return conn.execute(
        "SELECT partition_name, range_start, range_end FROM monthly_partitions('audit_logs') "
        "WHERE range_end IS NOT NULL AND range_end <= %s ORDER BY range_start", (cutoff,),
    ).fetchall()


def archive_audit_logs(ctx, *, retention_days: int = DEFAULT_RETENTION_DAYS, as_of: dt.datetime | None = None,
                       max_partitions: int | None = None, workers: int) -> dict[str, Any]:
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    as_of = as_of or dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    cutoff = as_of - dt.timedelta(days=retention_days)
    # Each month on a connection of its own, ``workers`` at a time: one month's COPY streams while
    # another moves its held rows or reads its file back (each is mostly one core: the server's, or
    # ours), and months waiting for a moment to detach wait together, in the same gap between readers.
    from concurrent.futures import ThreadPoolExecutor

    with ctx.connect(autocommit=True) as conn:
        _session(conn)
        parts = candidate_partitions(conn, cutoff)[:max_partitions]
        with ThreadPoolExecutor(max(1, min(workers, len(parts))), thread_name_prefix="archive") as pool:
            results = list(pool.map(lambda part: _archive_month(ctx, *part), parts))
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


def _archive_month(ctx, name: str, start: dt.datetime, end: dt.datetime) -> PartitionResult:
    """One month on its own connection, its outcome recorded as soon as it is known (ctx.record_item is
    thread-safe)."""
    with ctx.connect(autocommit=True) as conn:
        _session(conn)
        if not scalar(conn, "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, name)):
            ctx.record_item("audit_partition", name, "skipped", "being archived by another run")
            return PartitionResult(name, "locked")
        try:
            res = archive_partition(conn, name, start, end)
        except Exception as exc:  # noqa: BLE001 - one bad partition fails alone; the next is tried
            conn.execute("UPDATE audit_log_archives SET error = %s, updated_at = now() WHERE partition_name = %s",
                         (f"{exc.__class__.__name__}: {exc}"[:2000], name))
            ctx.record_item("audit_partition", name, "failed", f"{exc.__class__.__name__}: {exc}")
            return PartitionResult(name, "failed", note=str(exc))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_NAMESPACE, name))
        for reason, n in sorted(res.held.items()):
            ctx.record_item("audit_partition_held_rows", name, "skipped",
                            holds.skip_message(f"{reason} ({n} rows moved to audit_logs_held)"))
        ctx.record_item("audit_partition", name, "succeeded",
                        f"{res.rows} rows archived to {res.location}; {res.held_rows} held rows kept")
        return res


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
            location = storage.join(storage.archive_root(), "audit_logs", f"{name}.csv.zst")
            copy = (f"COPY (SELECT {', '.join('h.' + c for c in COLUMNS)} FROM audit_logs_held h JOIN _released_audit r "
                    "USING (id, occurred_at)) TO STDOUT WITH (FORMAT csv, HEADER true)")
            written = stream_to_archive(conn, copy, location)
            content_sha, rows, file_sha = read_archive(location, n)
            if content_sha != written["content_sha256"] or rows != n:
                raise ArchiveMismatch(f"{location} failed read-back ({rows} of {n} rows); released rows stay held")
            conn.execute(
                "INSERT INTO audit_log_archives (partition_name, range_start, range_end, status, location, row_count,"
                " content_sha256, file_sha256, file_bytes, min_occurred_at, max_occurred_at, written_at, verified_at,"
                " dropped_at) VALUES (%s, %s, %s, 'dropped', %s, %s, %s, %s, %s, %s, %s, now(), now(), now())",
                (name, lo, hi + dt.timedelta(microseconds=1), location, n, content_sha, file_sha,
                 written["file_bytes"], lo, hi))
            conn.execute("DELETE FROM audit_logs_held h USING _released_audit r WHERE h.id = r.id AND h.occurred_at = r.occurred_at")
        ctx.record_item("audit_released_held_rows", name, "succeeded", f"{n} rows whose hold was released archived to {location}")
        return n
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext('audit_logs_held'))", (_LOCK_NAMESPACE,))


class _GiveWay(Exception):
    """A write for the partition is waiting on our lock: let it land, then archive the partition again."""


def archive_partition(conn: psycopg.Connection, name: str, start: dt.datetime, end: dt.datetime) -> PartitionResult:
    # A month archived and dropped before can come back (a late, back-dated event and a re-run of
    # ensure_monthly_partitions): keep the earlier record under another name, archive this one anew.
    conn.execute("UPDATE audit_log_archives SET partition_name = partition_name || '#' || id, updated_at = now() "
                 "WHERE partition_name = %s AND status IN ('dropped', 'superseded')", (name,))
    record_id = scalar(conn,
        "INSERT INTO audit_log_archives (partition_name, range_start, range_end) VALUES (%s, %s, %s) "
        "ON CONFLICT (partition_name) DO UPDATE SET updated_at = now() RETURNING id", (name, start, end))
    seconds: dict[str, float] = {}

    def step(label: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        seconds[label] = round(seconds.get(label, 0.0) + time.perf_counter() - t0, 3)
        return out

    for _attempt in range(3):
        try:
            with conn.transaction():
                step("lock", _lock_against_writes, conn, name)
                predicate = held_rows_predicate("p", _scopes_in_force(conn))
                held = step("move_held", _keep_held_rows, conn, name, predicate)
                _pause_point("after_held_moved")
                written = step("write", _write_archive, conn, name, record_id, predicate)
                _pause_point("after_written")
                written.update(step("verify", _verify_archive, conn, name, written, predicate, sum(held.values())))
                _pause_point("after_verified")
                if _writers_waiting(conn, name):
                    raise _GiveWay()
                step("detach_drop", _detach_and_drop, conn, name)
                conn.execute(
                    "UPDATE audit_log_archives SET status = 'dropped', location = %(location)s, row_count = %(rows)s, "
                    "content_sha256 = %(content_sha256)s, file_sha256 = %(file_sha256)s, file_bytes = %(file_bytes)s, "
                    "min_occurred_at = %(lo)s, max_occurred_at = %(hi)s, held_rows = held_rows + %(held)s, "
                    "written_at = now(), verified_at = now(), dropped_at = now(), attempts = attempts + 1, "
                    "error = NULL, updated_at = now() WHERE partition_name = %(name)s",
                    {**written, "held": sum(held.values()), "name": name})
        except _GiveWay:
            log.info("archive of %s gave way to a write waiting for the month; archiving it again", name)
            continue
        total_held = scalar(conn, "SELECT held_rows FROM audit_log_archives WHERE partition_name = %s", (name,))
        return PartitionResult(name, "dropped", written["rows"], total_held, written["location"], seconds=seconds,
                               held=held)
    raise ArchiveMismatch(f"{name} kept receiving writes while being archived; left attached, will retry next run")


def _lock_against_writes(conn: psycopg.Connection, name: str) -> None:
    """SHARE on the partition (no writes; readers go on) and on legal_holds (no hold placed or released
    while this pass decides what it keeps), each in short lock_timeout attempts."""
    conn.execute("SELECT exec_with_lock_retry(%s, ARRAY[%s, %s])",
                 (f"lock {name}", 'LOCK TABLE legal_holds IN SHARE MODE', f'LOCK TABLE "{name}" IN SHARE MODE'))


def held_rows_predicate(alias: str, scopes: set[str]) -> str:
    """The audit rows of ``alias`` under a hold in force, as a join over ``legal_holds_in_force()``: the
    rule of ``legal_hold_applies`` (organization, user, or the resource itself), bound to it by a parity
    test. Each scope with holds adds one branch; the organization and user ones use their indexes."""
    branches = []
    if "organization" in scopes:
        branches.append(f"{alias}.organization_id = ANY (ARRAY(SELECT organization_id FROM legal_holds_in_force() "
                        "WHERE scope = 'organization'))")
    if "user" in scopes:
        branches.append(f"{alias}.actor_user_id = ANY (ARRAY(SELECT user_id FROM legal_holds_in_force() "
                        "WHERE scope = 'user'))")
    if "resource" in scopes:
        branches.append(f"({alias}.resource_type, {alias}.resource_id) IN (SELECT resource_type, resource_id "
                        "FROM legal_holds_in_force() WHERE scope = 'resource')")
    return "(" + " OR ".join(branches) + ")" if branches else NO_HOLDS


def _scopes_in_force(conn: psycopg.Connection) -> set[str]:
    return {s for (s,) in conn.execute("SELECT DISTINCT scope FROM legal_holds_in_force()").fetchall()}


def _keep_held_rows(conn: psycopg.Connection, name: str, predicate: str) -> dict[str, int]:
    """Copy the partition's held rows (``predicate``) to audit_logs_held; {reason: rows}.

    They are not deleted from the partition: the archive's COPY leaves them out, and the partition goes
    whole once the archive and this copy account for every row of it (:func:`_verify_archive`), in the
    same transaction. Found through the organization/user indexes, not a scan."""
    if predicate == NO_HOLDS:
        return {}
    reason = holds.reason_expression("p.organization_id", "p.actor_user_id", "p.resource_type", "p.resource_id")
    rows = conn.execute(
        f"""INSERT INTO audit_logs_held ({_COLS}, hold_reason, source_partition)
            SELECT {", ".join("p." + c for c in COLUMNS)}, COALESCE({reason}, 'legal hold'), %s
            FROM "{name}" p WHERE {predicate}
            ON CONFLICT (id, occurred_at) DO UPDATE SET hold_reason = EXCLUDED.hold_reason
            RETURNING hold_reason""", (name,)).fetchall()
    by_reason: dict[str, int] = {}
    for (r,) in rows:
        by_reason[r] = by_reason.get(r, 0) + 1
    return by_reason


def _codec(location: str) -> str:
    return "gzip" if location.endswith(".gz") else "zstd"


class _HashingWriter(io.RawIOBase):
    """A file object that hashes and counts what goes through it (the compressed bytes, as stored)."""

    def __init__(self, raw) -> None:
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.size += len(b)
        self.raw.write(b)
        return len(b)


def _write_archive(conn: psycopg.Connection, name: str, record_id: int, held: str) -> dict[str, Any]:
    """Stream the partition's rows but the held ones once into its archive file (:func:`stream_to_archive`)."""
    location = storage.join(storage.archive_root(), "audit_logs", f"{name}.csv.zst")
    taken = conn.execute("SELECT id FROM audit_log_archives WHERE location = %s AND partition_name <> %s",
                         (location, name)).fetchone()
    if taken:  # an earlier incarnation of this month owns that file: never overwrite an archive
        location = storage.join(storage.archive_root(), "audit_logs", f"{name}.{record_id}.csv.zst")
    return stream_to_archive(conn, copy_sql(name, held), location, pause_at="mid_write")


def stream_to_archive(conn: psycopg.Connection, copy: str, location: str, *, pause_at: str | None = None) -> dict[str, Any]:
    """One pass: COPY -> sha256 of the CSV text -> zstd -> the file (temporary name until complete) and its
    sha256. Returns location, rows (the server's own count, from COPY's command tag) and the digests."""
    import pyarrow as pa

    content = hashlib.sha256()
    with storage.atomic_writer(location) as raw:
        hashed = _HashingWriter(raw)
        # Arrow's zstd stream at its default level: standard frames (`zstd -d` reads them), fast.
        with pa.CompressedOutputStream(pa.PythonFile(hashed, mode="w"), "zstd") as out:
            cur = conn.cursor()
            with cur.copy(copy) as stream:
                for data in _blocks(stream):
                    content.update(data)
                    out.write(data)
                    if pause_at:
                        _pause_point(pause_at)
                        pause_at = None
            rows = cur.rowcount
    return {"location": location, "rows": rows, "content_sha256": content.hexdigest(),
            "file_sha256": hashed.sha.hexdigest(), "file_bytes": hashed.size}


def _count_csv_records(text_stream: io.TextIOBase) -> int:
    reader = csv.reader(text_stream)
    n = -1  # the header
    for _ in reader:
        n += 1
    return max(n, 0)


def _decompressed_blocks(fh, codec: str) -> Iterator[bytes]:
    if codec == "gzip":
        gz = gzip.GzipFile(fileobj=fh, mode="rb")
        while block := gz.read(1 << 20):
            yield block
        return
    import pyarrow as pa

    with pa.CompressedInputStream(pa.PythonFile(fh, mode="r"), "zstd") as stream:
        while block := stream.read(1 << 20):
            yield block


def read_archive(location: str, expected_rows: int | None = None) -> tuple[str, int, str]:
    """(sha256 of the CSV text, rows, sha256 of the file) of a stored archive (zstd, or gzip: older ones).

    Rows are counted by lines; only when that differs from ``expected_rows`` (a quoted field may hold a
    newline) are the CSV records parsed and counted (rare, and slow)."""
    content = hashlib.sha256()
    file_digest = hashlib.sha256()
    newlines = 0

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
        for block in _decompressed_blocks(io.BufferedReader(_Tee(fh), 1 << 20), _codec(location)):
            content.update(block)
            newlines += block.count(b"\n")
        while fh.read(1 << 20):  # anything the decompressor did not consume, so the file digest covers it all
            pass
    rows = newlines - 1  # one line per record, after the header
    if rows != expected_rows:
        with storage.open_read(location) as fh:
            text = io.TextIOWrapper(io.BufferedReader(_BlockReader(_decompressed_blocks(fh, _codec(location)))),
                                    encoding="utf-8", newline="")
            rows = _count_csv_records(text)
    return content.hexdigest(), max(rows, 0), file_digest.hexdigest()


class _BlockReader(io.RawIOBase):
    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks, self.pending = blocks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.pending:
            try:
                self.pending = next(self.blocks)
            except StopIteration:
                return 0
        n = min(len(b), len(self.pending))
        b[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


def archive_rows(location: str) -> Iterator[list[str]]:
    """The CSV records of an archive (header first), whichever codec wrote it."""
    with storage.open_read(location) as fh:
        text = io.TextIOWrapper(io.BufferedReader(_BlockReader(_decompressed_blocks(fh, _codec(location)))),
                                encoding="utf-8", newline="")
        yield from csv.reader(text)


def _verify_archive(conn: psycopg.Connection, name: str, written: dict[str, Any], held: str,
                    held_rows: int) -> dict[str, Any]:
    """Read the file back: the CSV text must hash to what was streamed, with as many rows as COPY sent;
    and the archive and the held copy together must hold every row of the partition. Meanwhile the server
    counts the partition and finds the archived rows' time range (the read-back is CPU, the query I/O)."""
    from concurrent.futures import ThreadPoolExecutor

    kept = f"WHERE {held} IS NOT TRUE"
    with ThreadPoolExecutor(1) as pool:
        read_back = pool.submit(read_archive, written["location"], written["rows"])
        total, lo, hi = conn.execute(
            f'SELECT count(*), min(occurred_at) FILTER ({kept}), max(occurred_at) FILTER ({kept}) FROM "{name}" p'
        ).fetchone() or (0, None, None)
        content_sha, rows, file_sha = read_back.result()
    problems = []
    if rows != written["rows"]:
        problems.append(f"rows {rows} != COPY's {written['rows']}")
    if written["rows"] + held_rows != total:
        problems.append(f"{written['rows']} archived + {held_rows} held != the partition's {total} rows")
    if content_sha != written["content_sha256"]:
        problems.append("content checksum differs")
    if file_sha != written["file_sha256"]:
        problems.append("file checksum differs")
    if problems:
        raise ArchiveMismatch(f"archive of {name} failed read-back ({'; '.join(problems)}); partition kept")
    return {"lo": lo, "hi": hi}


def _writers_waiting(conn: psycopg.Connection, name: str) -> bool:
    """Someone waits to write into the partition we hold: detaching now would hold them until we commit."""
    return bool(scalar(conn, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = %s::regclass AND NOT granted)",
                       (name,)))


def _detach_and_drop(conn: psycopg.Connection, name: str) -> None:
    # With a DEFAULT partition DETACH cannot be CONCURRENTLY and takes ACCESS EXCLUSIVE on audit_logs:
    # one 150 ms attempt at a time (exec_with_lock_retry with no wait of its own), so an insert never
    # queues behind it for longer, and the next attempt after a short pause. A reader's back-to-back
    # queries on audit_logs leave it free only in the moment between two of them, and an attempt must be
    # waiting then: with the function's own backoff (up to 2 s between attempts) the month gave up after
    # 60 s more often than not, and the pass (its file written and verified) was done again next night.
    detach = f'ALTER TABLE audit_logs DETACH PARTITION "{name}"'
    deadline = time.monotonic() + DETACH_MAX_WAIT_S
    while True:
        try:
            with conn.transaction():  # a savepoint: a refused attempt leaves the pass's transaction as it was
                conn.execute("SELECT exec_with_lock_retry(%s, ARRAY[%s], interval '150 milliseconds', interval '0')",
                             (name, detach))
            break
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(DETACH_PAUSE_S)
    _pause_point("after_detach")
    conn.execute(f'DROP TABLE "{name}"')


def restore_sql_hint(location: str) -> str:
    """How to load an archive back with standard tools (documentation and reports)."""
    unpack = "gunzip -c" if _codec(location) == "gzip" else "zstd -dc"
    return (f"{unpack} {location} | psql -c \"\\copy audit_logs_archive ({_COLS}) FROM STDIN WITH (FORMAT csv, HEADER true)\"")
