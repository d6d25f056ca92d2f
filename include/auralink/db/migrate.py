"""Versioned SQL migrations: ``db/migrations/NNNN_name.sql``, applied in order, each in its own
transaction, recorded in ``schema_migrations`` with a checksum. Re-running is a no-op; an applied file
that was edited afterwards is refused (write a new migration instead).

One global order: a new file takes the next number above the newest one. A file numbered below the
newest applied migration is refused (Flyway's outOfOrder=false): it would run last on an existing
database but early on a fresh one, so the two would not end up with the same schema.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

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


def available_migrations(source: Traversable | Path | None = None) -> list[Migration]:
    """The migration files of ``source`` (a directory; default: the package's ``migrations``), in order."""
    found = []
    folder = source if source is not None else resources.files("auralink.db").joinpath("migrations")
    for entry in folder.iterdir():
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


def out_of_order(available: list[Migration], done: dict[int, tuple[str, str]]) -> list[tuple[Migration, str]]:
    """Unapplied migrations numbered below the newest applied one, each with why it is refused."""
    if not done:
        return []
    newest = max(done)
    label = f"{newest:04d}_{done[newest][0]}"
    return [(m, f"numbered below the newest applied migration {label}: renumber it above {newest:04d}")
            for m in available if m.version not in done and m.version < newest]


def migrate(url: str | None = None, *, source: Traversable | Path | None = None) -> list[Migration]:
    """Apply every pending migration; returns those applied (empty when up to date)."""
    applied_now: list[Migration] = []
    available = available_migrations(source)
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            _ensure_table(conn)
            done = applied_versions(conn)
            for mig in available:
                if mig.version in done and done[mig.version][1] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
            refused = out_of_order(available, done)
            if refused:  # before applying anything: the schema is left as it was
                mig, why = refused[0]
                more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
                raise MigrationError(f"migration {mig.version:04d}_{mig.name} is {why}{more}")
            for mig in available:
                if mig.version in done:
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
    # Unapplied files; a refused one's name carries "(refused: why)" so every reader of pending shows it.
    pending: list[tuple[int, str]]
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (version, name, why) that migrate() refuses


def status(url: str | None = None, *, source: Traversable | Path | None = None) -> Status:
    with connect(url, autocommit=True) as conn:
        done = applied_versions(conn)
    available = available_migrations(source)
    why = {m.version: reason for m, reason in out_of_order(available, done)}
    pending = [(m.version, f"{m.name} (refused: {why[m.version]})" if m.version in why else m.name)
               for m in available if m.version not in done]
    refused = [(m.version, m.name, why[m.version]) for m in available if m.version in why]
    applied = sorted((v, n) for v, (n, _) in done.items())
    return Status(max(done) if done else None, applied, pending, refused)
