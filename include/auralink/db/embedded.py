"""The embedded default database: PostgreSQL 16 from the pgserver wheel, under AURALINK_HOME.

It listens on a Unix socket inside its data directory, so nothing else on the machine sees it,
and it is left running between commands (starting it again costs ~0.2 s; the first initdb ~3 s).
"""

from __future__ import annotations

import logging
from pathlib import Path

from auralink import config

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "auralink"


def data_directory() -> Path:
    return config.home() / "pgdata"


def ensure_server(datadir: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return a URL to its ``auralink`` database."""
    import warnings

    import psycopg

    with warnings.catch_warnings():  # platformdirs warns on every import where XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported here: the wheel is only needed when no DATABASE_URL is configured

    # pgserver logs every handle it opens and closes at INFO, including from an atexit hook after
    # logging's streams are closed; its warnings are what matter.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    datadir = datadir or data_directory()
    server = pgserver.get_server(str(datadir), cleanup_mode=None)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DB_NAME,)).fetchone()
        if not exists:
            log.info("creating database %s in the embedded server at %s", EMBEDDED_DB_NAME, datadir)
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"')
    return server.get_uri(EMBEDDED_DB_NAME)


def stop_server(datadir: Path | None = None) -> bool:
    """Stop the embedded server if it runs (``pg_ctl stop``, fast mode); returns whether it was running."""
    import os

    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # the wheel's pg_ctl wrapper (made at import)

    datadir = datadir or data_directory()
    if not (datadir / "postmaster.pid").exists():
        return False
    # As root, pgserver runs PostgreSQL as the system user that owns the data directory.
    owner = {"user": datadir.owner()} if os.geteuid() == 0 else {}
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=datadir, **owner)
    except Exception as exc:  # noqa: BLE001 - report, do not mask: the caller decides
        log.warning("could not stop the embedded server at %s: %s", datadir, exc)
        return False
    return True
