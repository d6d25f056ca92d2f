"""Monthly partitions of audit_logs and usage_records: create ahead, move rows out of DEFAULT, list them.

The locking lives in SQL, once (migration 1100): ``attach_monthly_partition()`` builds a month as a
standalone table, moves that month's rows out of the DEFAULT partition and attaches it, each attempt
under a short ``lock_timeout`` with backoff (``exec_with_lock_retry()``), so a product write never queues
behind it for longer than that. This module decides which months, one transaction each (a month's locks
are released as soon as it is attached):

* from the current month (wall clock) through ``months_ahead`` past the later of the wall clock and the
  given ``now`` (the night's interval end), and
* every month that has rows in DEFAULT,

except months at or before the newest month archival dropped (``audit_log_archives``): those are never
recreated; their late rows stay in DEFAULT and are reported.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from auralink.db.connection import scalar

PARTITIONED_TABLES = ("audit_logs", "usage_records")
LOCK_TIMEOUT = dt.timedelta(milliseconds=150)  # the longest a product write may wait behind us, per attempt
MAX_WAIT = dt.timedelta(minutes=5)              # per month, then the month is reported failed (DEFAULT still takes writes)


@dataclass(frozen=True)
class Partition:
    name: str
    range_start: dt.datetime | None  # None for DEFAULT
    range_end: dt.datetime | None
    is_default: bool = False


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    rows_moved: int = 0
    failed: dict[str, str] = field(default_factory=dict)          # partition -> why
    kept_in_default: dict[str, int] = field(default_factory=dict)  # archived month -> rows left in DEFAULT


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def list_partitions(conn: psycopg.Connection, parent: str) -> list[Partition]:
    """Every partition of ``parent``, months oldest first, DEFAULT last."""
    months = [Partition(n, s, e) for n, s, e in conn.execute(
        "SELECT partition_name, range_start, range_end FROM monthly_partitions(%s::regclass)", (parent,)).fetchall()]
    default = default_partition(conn, parent)
    return months + ([Partition(default, None, None, True)] if default else [])


def default_partition(conn: psycopg.Connection, parent: str) -> str | None:
    row = conn.execute("SELECT NULLIF(partdefid, 0)::regclass::text FROM pg_partitioned_table "
                       "WHERE partrelid = %s::regclass", (parent,)).fetchone()
    return row[0] if row else None


def newest_archived_month(conn: psycopg.Connection, parent: str) -> dt.date | None:
    """The newest month of ``parent`` that archival dropped. Archival records each month under its
    partition's name (``audit_logs_p202605``; an earlier incarnation renamed ``...#<id>``) with its
    range; the released-held-rows records have other names and are not months."""
    pattern = f"^{re.escape(parent)}_p[0-9]{{6}}(#[0-9]+)?$"
    row = conn.execute(
        "SELECT max(range_start AT TIME ZONE 'UTC')::date FROM audit_log_archives "
        "WHERE status IN ('dropped', 'superseded') AND partition_name ~ %s", (pattern,)).fetchone()
    return row[0] if row and row[0] else None


def default_months(conn: psycopg.Connection, parent: str) -> dict[dt.date, int]:
    """Rows waiting in DEFAULT, by UTC month."""
    default = default_partition(conn, parent)
    if default is None:
        return {}
    key = scalar(conn, "SELECT a.attname FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid "
                       "AND a.attnum = p.partattrs[0] WHERE p.partrelid = %s::regclass", (parent,))
    rows = conn.execute(sql.SQL("SELECT date_trunc('month', {k} AT TIME ZONE 'UTC')::date, count(*) FROM ONLY {t} GROUP BY 1")
                        .format(k=sql.Identifier(key), t=sql.SQL(default))).fetchall()
    return {m: n for m, n in rows}


def attach_month(conn: psycopg.Connection, parent: str, month: dt.date, *, lock_timeout: dt.timedelta = LOCK_TIMEOUT,
                 max_wait: dt.timedelta = MAX_WAIT) -> tuple[str, bool, int, int]:
    """(partition, created, rows moved from DEFAULT, attempts) for one month, in its own transaction."""
    with conn.transaction():
        row = conn.execute("SELECT * FROM attach_monthly_partition(%s::regclass, %s, %s, %s)",
                           (parent, month, lock_timeout, max_wait)).fetchone()
    assert row is not None  # a set-returning function that always returns one row
    return row[0], row[1], row[2], row[3]


def ensure_partitions(conn: psycopg.Connection, *, now: dt.datetime | None = None, months_ahead: int = 3,
                      lock_timeout: dt.timedelta = LOCK_TIMEOUT, max_wait: dt.timedelta = MAX_WAIT,
                      tables: tuple[str, ...] = PARTITIONED_TABLES,
                      on_item: Callable[[str, str, str], None] | None = None) -> dict[str, Outcome]:
    """Create each table's months ahead and empty its DEFAULT into proper months. ``on_item(partition,
    outcome, reason)`` hears about every month created, kept or failed. A month that cannot get its
    locks within ``max_wait`` is reported in ``failed`` and the others go on."""
    wall = dt.datetime.now(dt.UTC)
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    horizon = max(wall, now) if now is not None else wall
    first = month_start(wall.date())
    last = add_months(month_start(horizon.astimezone(dt.UTC).date()), months_ahead)
    ahead = [first]
    while ahead[-1] < last:
        ahead.append(add_months(ahead[-1], 1))
    report = on_item or (lambda *_: None)
    results: dict[str, Outcome] = {}
    for table in tables:
        out = results[table] = Outcome()
        floor = newest_archived_month(conn, table)
        waiting = default_months(conn, table)
        for month in sorted(set(ahead) | set(waiting)):
            name = f"{table}_p{month:%Y%m}"
            if floor is not None and month <= floor:
                if waiting.get(month):
                    out.kept_in_default[name] = waiting[month]
                    report(name, "skipped", f"{waiting[month]} rows stay in DEFAULT: {month:%Y-%m} is at or before "
                                            f"the newest archived month {floor:%Y-%m}, which is never recreated")
                continue
            try:
                name, created, moved, attempts = attach_month(conn, table, month, lock_timeout=lock_timeout,
                                                              max_wait=max_wait)
            except psycopg.errors.LockNotAvailable as exc:
                out.failed[name] = str(exc.diag.message_primary or exc)
                report(name, "failed", out.failed[name])
                continue
            if created:
                out.created.append(name)
                out.rows_moved += moved
                report(name, "succeeded", f"created in {attempts} attempt(s); {moved} rows moved from DEFAULT")
    return results
