"""Where lineage says the project's tables live: the OpenLineage namespace and database of the Assets.

Airflow Assets of the tables the jobs produce use Airflow's postgres URI form,
``postgres://host:port/database/schema/table``, which the OpenLineage provider maps to the dataset
``database.schema.table`` in namespace ``postgres://host:port``: the names dbt's lineage (Cosmos) gives
the same tables, so Marquez or DataHub join them. The host is a setting, not a connection read when a
DAG is parsed (the embedded database's Unix socket has no host at all):

- ``AURALINK_LINEAGE_NAMESPACE``: ``postgres://host:port`` as clients reach the database (docker-compose:
  ``postgres://postgres:5432``); else the host and port of ``DATABASE_URL`` when it names a TCP host;
  else ``postgres://localhost:5432``.
- ``AURALINK_LINEAGE_DATABASE``: the database name; else ``DATABASE_URL``'s; else ``auralink``.

No Airflow import here: the settings are read by DAG files at parse time and by tests.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from auralink import config

DEFAULT_NAMESPACE = "postgres://localhost:5432"
DEFAULT_DATABASE = "auralink"


class LineageConfigError(ValueError):
    """A lineage setting that cannot name a table (the message names the variable)."""


def _database_url_parts() -> tuple[str | None, int | None, str | None]:
    url = config.env("DATABASE_URL")
    if not url:
        return None, None, None
    from auralink.db.connection import libpq_params

    params = libpq_params(url)
    host = params["host"] if not params["host"].startswith("/") else None  # a socket directory is no host
    return host, int(params["port"]), params["dbname"]


def namespace() -> str:
    """``postgres://host:port``: the OpenLineage namespace of the project's tables."""
    configured = config.env("AURALINK_LINEAGE_NAMESPACE")
    if configured:
        parts = urlsplit(configured.strip().rstrip("/"))
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname or parts.path:
            raise LineageConfigError("AURALINK_LINEAGE_NAMESPACE must look like postgres://host:port, "
                                     f"not {configured!r}")
        return f"postgres://{parts.hostname}:{parts.port or 5432}"
    host, port, _ = _database_url_parts()
    return f"postgres://{host}:{port or 5432}" if host else DEFAULT_NAMESPACE


def database() -> str:
    configured = config.env("AURALINK_LINEAGE_DATABASE")
    if configured:
        return configured.strip()
    return _database_url_parts()[2] or DEFAULT_DATABASE


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` (or a bare table in ``public``) -> (schema, table)."""
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def table_uri(table: str) -> str:
    """The Asset URI of a table: ``postgres://host:port/database/schema/table``."""
    schema, name = split_table(table)
    return f"{namespace()}/{database()}/{schema}/{name}"


def dataset_name(table: str) -> str:
    """The OpenLineage dataset name of a table (namespace :func:`namespace`): ``database.schema.table``."""
    schema, name = split_table(table)
    return f"{database()}.{schema}.{name}"


def table_of_uri(uri: str) -> str:
    """``schema.table`` of an Asset URI made by :func:`table_uri`."""
    _, _, schema, name = urlsplit(uri).path.split("/")
    return f"{schema}.{name}"
