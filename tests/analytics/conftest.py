"""Analytics fixtures: one seeded database per test module with the dbt project built once on it."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# The relations a re-run must leave identical (dbt output, and the AI-cost job's table).
ANALYTICS_RELATIONS = (
    "analytics.daily_usage_summary", "analytics.organization_analytics_summary", "analytics.fct_call_quality",
    "analytics.fct_call_participant_quality", "analytics.fct_ai_usage_daily", "analytics.monthly_costs",
    "analytics_intermediate.int_usage_daily", "analytics_intermediate.int_org_activity_daily",
    "analytics_intermediate.int_active_users_daily", "analytics_intermediate.int_call_participant_quality",
    "public.ai_usage_analytics",
)


def _url_for(dbname: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{dbname}"


def snapshot(url: str, relations=ANALYTICS_RELATIONS) -> dict[str, tuple[int, str]]:
    """(row count, md5 of all rows in a stable order) per relation."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for rel in relations:
            out[rel] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {rel} t"
            ).fetchone()
    return out


@pytest.fixture(scope="module")
def built_analytics_url(seeded_template: str):
    """A copy of the small seed with `dbt build` (nightly selection) and the ai_usage_costs job run once."""
    from auralink.analytics.dbt_runner import build
    from auralink.jobs import run_job

    name = f"auralink_analytics_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded_template}"')
    url = _url_for(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        run = build(url=url)
        run_job("ai_usage_costs", url=url)
        yield url, run
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def analytics_snapshot():
    """snapshot(url) -> {relation: (rows, md5)}: compare before/after a re-run."""
    return snapshot
