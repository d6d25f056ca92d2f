"""Quality-gate fixtures: each test writes Data Docs to its own folder; the mart gates get a copy of the
small seed with the dbt project built once per module (dbt takes most of a minute; a clone ~0.1 s)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from auralink.jobs.interval import DataInterval

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# The seed ends on 2026-11-20 (tests/conftest.py SMALL_SEED): the night that processes it.
SEED_NIGHT = DataInterval.for_day(dt.date(2026, 11, 20))


def url_for(dbname: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{dbname}"))


def _clone(template: str) -> str:
    name = f"auralink_qg_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        # dbt may keep a pooled connection open to the template; CREATE DATABASE ... TEMPLATE needs none.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                     (template,))
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def gx_dir(tmp_path, monkeypatch):
    """Validation results and Data Docs of this test only."""
    path = tmp_path / "gx"
    monkeypatch.setenv("AURALINK_GX_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def built_template(seeded_template: str):
    """The small seed with `dbt build` (nightly selection) and ai_usage_costs run once: a template."""
    from auralink.analytics.dbt_runner import build
    from auralink.jobs import run_job

    name = _clone(seeded_template)
    url = url_for(name)
    with psycopg.connect(url, autocommit=True) as conn:
        # As on a real night: a summary made a week after the seed's last day records AI usage dated
        # then; the night of the seed's last day neither builds nor checks that later day.
        conn.execute("""INSERT INTO ai_usage (organization_id, call_id, feature, provider, model, unit_type, units,
                                              input_tokens, output_tokens, cost_usd, occurred_at, idempotency_key)
                        SELECT organization_id, call_id, feature, provider, model, unit_type, units, input_tokens,
                               output_tokens, cost_usd, occurred_at + interval '7 days', 'quality-gates-late-summary'
                        FROM ai_usage ORDER BY occurred_at DESC, id LIMIT 1""")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        build(url=url, interval=SEED_NIGHT)
        run_job("ai_usage_costs", url=url, interval=SEED_NIGHT)
    yield name
    _drop(name)


@pytest.fixture
def analytics_url(built_template: str, monkeypatch: pytest.MonkeyPatch):
    """A fresh copy of the built analytics database; DATABASE_URL points at it."""
    name = _clone(built_template)
    url = url_for(name)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    _drop(name)


@pytest.fixture
def analytics_db(analytics_url: str):
    with psycopg.connect(analytics_url, autocommit=True) as conn:
        yield conn
