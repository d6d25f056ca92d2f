"""Resolve and open database connections.

``DATABASE_URL`` (a ``postgresql://`` URL) selects an external server; without it, the embedded pgserver
database is started and used. Inside Airflow, tasks use the ``auralink_db`` connection first
(auralink.orchestration.connections).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from auralink import config


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached; the message says which one (password redacted)."""


_cached_embedded_url: str | None = None


def database_url() -> str:
    """The URL every job connects to."""
    global _cached_embedded_url
    url = config.env("DATABASE_URL")
    if url:
        return normalize_url(url)
    if _cached_embedded_url is None:
        from auralink.db.embedded import ensure_server

        _cached_embedded_url = ensure_server()
    return _cached_embedded_url


def normalize_url(url: str) -> str:
    """Accept SQLAlchemy and Airflow spellings (postgresql+psycopg://, postgres://) and return libpq's."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user:password@host:port/dbname")
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {base}://")
    return f"postgresql://{rest}"


def sqlalchemy_url(url: str | None = None) -> str:
    """The same database as a SQLAlchemy URL on the psycopg 3 driver (pandas, Great Expectations)."""
    return "postgresql+psycopg://" + (url or database_url()).partition("://")[2]


def libpq_params(url: str | None = None) -> dict[str, str]:
    """host, port, user, password, dbname: what dbt's profile reads from the environment."""
    parts = urlsplit(url or database_url())
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "localhost"
    return {
        "host": unquote(host),
        "port": str(query.get("port") or parts.port or 5432),
        "user": unquote(parts.username or query.get("user") or "postgres"),
        "password": unquote(parts.password or query.get("password") or ""),
        "dbname": unquote(parts.path.lstrip("/") or query.get("dbname") or "postgres"),
    }


def connect(url: str | None = None, *, autocommit: bool = False, application_name: str = "auralink") -> psycopg.Connection:
    """Open a psycopg 3 connection; an unreachable server raises :class:`DatabaseUnavailable`."""
    url = url or database_url()
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name=application_name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DatabaseUnavailable(f"cannot connect to {config.redact_url(url)}: {first_line}") from None


def scalar(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    """The first column of the first row of a query that always returns a row (count, exists, RETURNING)."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"query returned no row: {sql.split()[0:4]}")
    return row[0]


@contextlib.contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on error, then closes."""
    conn = connect(url)
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.close()
