"""Shared fixtures: a real PostgreSQL per test, cloned from a migrated template.

TEST_DATABASE_URL names the server (default: the local one at 127.0.0.1:5432, user postgres). Each
test that asks for ``db_url`` gets a fresh database created from a template that already has every
migration (CREATE DATABASE ... TEMPLATE takes ~0.1 s), and DATABASE_URL points at it for the test.
``seeded_url`` is a small deterministic seed, cloned per test from a seeded template.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its home and config at import time: point it at a throwaway folder first.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="auralink-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))  # the run-tracking listener
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
# dag.test() runs one task at a time in this process, and a Cosmos watcher's deferred sensors would wait
# there for a producer that cannot run beside them: the DAG tests render dbt as one invocation per task.
# The real scheduler (tests/e2e) runs the default, the watcher.
os.environ.setdefault("AURALINK_DBT_EXECUTION_MODE", "local")
# Local state of jobs (recordings, archives, exports) goes to a temp home, never the checkout's.
os.environ.setdefault("AURALINK_HOME", tempfile.mkdtemp(prefix="auralink-home-"))
os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # test-only key

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_PREFIX = f"auralink_t{os.getpid()}"
_counter = itertools.count()

# The small seed every seeded test shares (fast: a few seconds to build once per session).
SMALL_SEED = {"orgs": 4, "days": 5, "seed": 7, "end_date": "2026-11-20"}


def _url_for(dbname: str) -> str:
    """ADMIN_URL with another database name (works for socket URLs: postgresql://u@/db?host=/dir)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL, autocommit=True)


def create_database(template: str | None = None) -> str:
    name = f"{_PREFIX}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """The dbt manifest the analytics DAG renders from, written before any DAG is parsed (as the image
    build does): on a fresh checkout the first parse would otherwise run `dbt parse` inside DagBag's
    30 s import timeout, which a busy machine can exceed. A no-op when the manifest is current."""
    from auralink.analytics import dbt_runner

    return dbt_runner.ensure_manifest()


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.exit(f"tests need PostgreSQL at {ADMIN_URL} (set TEST_DATABASE_URL): {exc}", returncode=3)
    return ADMIN_URL


@pytest.fixture(scope="session")
def migrated_template(pg_server: str):
    from auralink.db.migrate import migrate

    name = create_database()
    migrate(_url_for(name))
    yield name
    drop_database(name)


@pytest.fixture(scope="session")
def seeded_template(migrated_template: str):
    import datetime as dt

    from auralink.seed.generator import SeedConfig, seed_database

    name = create_database(template=migrated_template)
    cfg = dict(SMALL_SEED, end_date=dt.date.fromisoformat(SMALL_SEED["end_date"]))
    seed_database(SeedConfig(**cfg), url=_url_for(name), progress=False)
    yield name
    drop_database(name)


@pytest.fixture
def fresh_db_url(pg_server: str, monkeypatch: pytest.MonkeyPatch):
    """An empty database (no migrations)."""
    name = create_database()
    url = _url_for(name)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    drop_database(name)


def _clone_for_test(template: str, monkeypatch: pytest.MonkeyPatch):
    name = create_database(template=template)
    url = _url_for(name)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    drop_database(name)


@pytest.fixture
def db_url(migrated_template: str, monkeypatch: pytest.MonkeyPatch):
    """A migrated, empty database; DATABASE_URL points at it."""
    yield from _clone_for_test(migrated_template, monkeypatch)


@pytest.fixture
def seeded_url(seeded_template: str, monkeypatch: pytest.MonkeyPatch):
    """A migrated database with the small deterministic seed; DATABASE_URL points at it."""
    yield from _clone_for_test(seeded_template, monkeypatch)


@pytest.fixture
def make_database(migrated_template: str):
    """A factory of extra databases for one test: make_database(template="migrated"|"empty") -> url."""
    made: list[str] = []

    def make(template: str = "migrated") -> str:
        name = create_database(template=migrated_template if template == "migrated" else None)
        made.append(name)
        return _url_for(name)

    yield make
    for name in made:
        drop_database(name)


@pytest.fixture
def db(db_url: str):
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def seeded_db(seeded_url: str):
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata DB (SQLite in the temp AIRFLOW_HOME), initialised once for dag.test()."""
    from airflow.utils import db as airflow_db_utils

    airflow_db_utils.resetdb()
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def least_privilege_url(pg_server, monkeypatch):
    """A database of its own owned by a role that logs in with a password and is no superuser (as
    production hands the platform); DATABASE_URL points at it. Both are dropped at the end."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    role = f"auralink_lp_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE")
        admin.execute(f'CREATE DATABASE "{role}" OWNER {role}')
    parts = urlsplit(ADMIN_URL)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    url = urlunsplit(parts._replace(netloc=netloc, path=f"/{role}"))
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)')
            admin.execute(f"DROP ROLE IF EXISTS {role}")



def shared_dir() -> Path | None:
    """../shared beside the project root (developers' and CI's machines), or AURALINK_SHARED_DIR."""
    configured = os.environ.get("AURALINK_SHARED_DIR")
    path = Path(configured) if configured else ROOT.parent / "shared"
    return path if path.is_dir() else None


sys.path.insert(0, str(ROOT))  # so tests can import dags/ and workflows/ modules by path
