"""The project's database inside Airflow: the connection ``auralink_db``.

Tasks and the run-tracking listener read it through Airflow's own connection API, so a connection defined
in the UI, in an ``AIRFLOW_CONN_AURALINK_DB`` variable (URI or JSON) or in a secrets backend is seen, and it
wins over ``DATABASE_URL``. Without it, they use what every other process does: ``DATABASE_URL``, else the
embedded database. dbt gets the same connection through a Cosmos profile mapping (:func:`dbt_profile_mapping`).
Nothing here is imported at DAG parse time beyond the names, and no connection is read at parse time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

log = logging.getLogger(__name__)

CONN_ID = "auralink_db"
# The scheduler's listener lives for days: a changed connection is seen within this many seconds.
CACHE_SECONDS = 60.0

_cache: dict[str, tuple[float, str | None]] = {}
_lock = threading.Lock()


def url_from_connection(conn: Any) -> str:
    """A libpq URL from an Airflow connection's fields. A host that is a directory is a Unix socket (the
    embedded database); extras such as ``sslmode`` become URL parameters."""
    host = conn.host or "localhost"
    query = {k: str(v) for k, v in (conn.extra_dejson or {}).items() if isinstance(v, (str, int, float, bool))}
    user = quote(conn.login or "postgres", safe="")
    password = quote(conn.password or "", safe="")
    dbname = quote(conn.schema or "postgres", safe="")
    if host.startswith("/"):
        query = {"host": host, **({"port": str(conn.port)} if conn.port else {}), **query}
        netloc = f"{user}:{password}@"
    else:
        netloc = f"{user}:{password}@{host}" + (f":{conn.port}" if conn.port else "")
    return f"postgresql://{netloc}/{dbname}" + (f"?{urlencode(query)}" if query else "")


def connection_from_url(url: str, conn_id: str = CONN_ID) -> Any:
    """An Airflow connection (not stored anywhere) for a libpq URL."""
    from airflow.sdk import Connection

    from auralink.db.connection import libpq_params

    p = libpq_params(url)
    return Connection(conn_id=conn_id, conn_type="postgres", host=p["host"], port=int(p["port"]), login=p["user"],
                      password=p["password"] or None, schema=p["dbname"])


def airflow_database_url(conn_id: str = CONN_ID) -> str | None:
    """The URL of Airflow's connection ``conn_id``, or None when it is not defined (or Airflow is absent)."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(conn_id)
        if hit and hit[0] > now:
            return hit[1]
    url: str | None = None
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    try:
        url = url_from_connection(BaseHook.get_connection(conn_id))
    except AirflowNotFoundException:
        url = None
    with _lock:
        _cache[conn_id] = (now + CACHE_SECONDS, url)
    return url


def project_database_url() -> str:
    """Inside Airflow: the ``auralink_db`` connection when defined, else DATABASE_URL or the embedded one."""
    from auralink.db.connection import database_url

    return airflow_database_url() or database_url()


def forget() -> None:
    """Drop cached lookups (tests; a process that must see a changed connection at once)."""
    with _lock:
        _cache.clear()


def dbt_profile_mapping(conn_id: str = CONN_ID) -> Any:
    """Cosmos's Postgres profile mapping on the same connection, into schema ``analytics``.

    Cosmos's own mapping requires a password; the embedded database's Unix socket has none, so this one
    only requires host, user and database (a password, when there is one, still goes through an
    environment variable, never into profiles.yml).
    """
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    class ProjectPostgresProfileMapping(PostgresUserPasswordProfileMapping):
        required_fields: ClassVar[list[str]] = ["host", "user", "dbname"]

        @property
        def conn(self) -> Any:
            """The connection, else (no ``auralink_db`` defined) one made from DATABASE_URL or the embedded
            database: the same rule as the tasks'."""
            if self._conn is None:
                from airflow.sdk.exceptions import AirflowNotFoundException

                try:
                    self._conn = super().conn
                except AirflowNotFoundException:
                    self._conn = connection_from_url(project_database_url())
            return self._conn

        @property
        def profile(self) -> dict[str, Any | None]:
            profile = super().profile
            if not self.conn.password:
                profile["password"] = ""
            return profile

        @property
        def env_vars(self) -> dict[str, str]:
            return {k: v for k, v in super().env_vars.items() if v is not None} if self.conn.password else {}

    return ProjectPostgresProfileMapping(conn_id=conn_id, profile_args={
        "schema": "analytics", "threads": 2, "connect_timeout": 10, "keepalives_idle": 0})
