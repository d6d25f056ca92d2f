"""Versioned SQL migrations: ``db/migrations/NNNN_name.sql``, applied in order, each in its own
transaction, recorded in ``schema_migrations`` with a checksum. Re-running is a no-op; an applied file
that was edited afterwards is refused (write a new migration instead).

Version ranges by area keep parallel work from colliding: 0001-0099 foundation, 0100 analytics,
0200 recordings, 0300 scale-out, 0400 compliance, 0500 billing/insights/reports/security, 0900 cross-cutting
changes that need every area's tables (indexes behind foreign keys).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from auralink.db.connection import connect

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x41555241  # "AURA": serialises concurrent `db migrate` runs


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("auralink.db").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied_versions(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {v: (n, c) for v, n, c in rows}


def migrate(url: str | None = None) -> list[Migration]:
    """Apply every pending migration; returns those applied (empty when up to date)."""
    applied_now: list[Migration] = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            _ensure_table(conn)
            done = applied_versions(conn)
            for mig in available_migrations():
                if mig.version in done:
                    _, checksum = done[mig.version]
                    if checksum != mig.checksum:
                        raise MigrationError(
                            f"migration {mig.version:04d}_{mig.name} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                log.info("applying migration %04d_%s", mig.version, mig.name)
                try:
                    with conn.transaction():
                        conn.execute(mig.sql)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (mig.version, mig.name, mig.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
                applied_now.append(mig)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


@dataclass(frozen=True)
class Status:
    current_version: int | None
    applied: list[tuple[int, str]]
    pending: list[tuple[int, str]]


def status(url: str | None = None) -> Status:
    with connect(url, autocommit=True) as conn:
        done = applied_versions(conn)
    pending = [(m.version, m.name) for m in available_migrations() if m.version not in done]
    applied = sorted((v, n) for v, (n, _) in done.items())
    return Status(max(done) if done else None, applied, pending)
