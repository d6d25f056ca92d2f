"""Both ways to reach a database: DATABASE_URL (external) and the embedded pgserver default."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from auralink.db import connection
from auralink.db.migrate import migrate, status


def test_external_database_from_database_url(db_url):
    assert connection.database_url() == db_url
    with connection.connect() as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == db_url.rsplit("/", 1)[1]


def test_url_spellings_are_normalised():
    assert connection.normalize_url("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    assert connection.normalize_url("postgres://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(ValueError, match="postgresql://"):
        connection.normalize_url("mysql://u@h/d")
    params = connection.libpq_params("postgresql://postgres:@/auralink?host=/tmp/pg")
    assert params == {"host": "/tmp/pg", "port": "5432", "user": "postgres", "password": "", "dbname": "auralink"}


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(connection.DatabaseUnavailable, match=r"cannot connect to postgresql://app:\*\*\*@127.0.0.1:1/x"):
        connection.connect("postgresql://app:s3cret@127.0.0.1:1/x")


@pytest.mark.slow
def test_embedded_default_starts_and_migrates(tmp_path, monkeypatch):
    """With no DATABASE_URL, a PostgreSQL 16 from the pgserver wheel starts under AURALINK_HOME."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_AURALINK_DB", raising=False)
    monkeypatch.setenv("AURALINK_HOME", str(tmp_path))
    monkeypatch.setattr(connection, "_cached_embedded_url", None)
    url = connection.database_url()
    try:
        assert "host=" in url and str(tmp_path) in url
        migrate(url)
        assert status(url).pending == []
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("16")
        # a second process finds the running server (the CLI path)
        out = subprocess.run([sys.executable, "-m", "auralink.cli", "db", "status"], capture_output=True, text=True, check=False,
                             env={**__import__("os").environ, "AURALINK_HOME": str(tmp_path)}, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "pending:  none" in out.stdout
    finally:
        from auralink.db.embedded import stop_server

        assert stop_server(tmp_path / "pgdata")
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()
