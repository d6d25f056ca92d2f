"""Pipeline fixtures: seeded databases to run nights on, and a snapshot of every analytics relation."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tests.analytics.conftest import ANALYTICS_RELATIONS

# The small seed's days (tests/conftest.py SMALL_SEED: 5 days ending 2026-11-20).
SEED_DAYS = [dt.date(2026, 11, 16) + dt.timedelta(days=i) for i in range(5)]
# What varies between two identical builds: when a row was written.
VOLATILE = ("computed_at",)
# The date each relation's rows are about.
DATE_COLUMNS = {
    "analytics.daily_usage_summary": "usage_date", "analytics.organization_analytics_summary": "period_start",
    "analytics.fct_call_quality": "call_date", "analytics.fct_call_participant_quality": "call_date",
    "analytics.fct_ai_usage_daily": "usage_date", "analytics.monthly_costs": "month",
    "analytics_intermediate.int_usage_daily": "usage_date", "analytics_intermediate.int_org_activity_daily": "activity_date",
    "analytics_intermediate.int_active_users_daily": "activity_date",
    "analytics_intermediate.int_call_participant_quality": "call_date", "public.ai_usage_analytics": "usage_date",
}


def marts(url: str) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the rows in a stable order, volatile columns left out) per analytics relation."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for rel in ANALYTICS_RELATIONS:
            drop = " - ".join(["to_jsonb(t)", *(f"'{c}'" for c in VOLATILE)])
            out[rel] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(({drop})::text, '|' ORDER BY ({drop})::text), '')) "
                f"FROM {rel} t").fetchone()
    return out


def newest_days(url: str) -> dict[str, dt.date | None]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {rel: conn.execute(f"SELECT max({col}) FROM {rel}").fetchone()[0] for rel, col in DATE_COLUMNS.items()}


@pytest.fixture
def analytics_nights():
    """run(url, day, select=...) -> the pipeline's results for that night (dbt and the AI costs by default)."""
    from auralink.jobs.interval import DataInterval
    from auralink.pipeline import run_pipeline

    def run(url: str, day: dt.date, select=("dbt_build", "ai_usage_costs")) -> list[dict]:
        results = run_pipeline(interval=DataInterval.for_day(day), select=list(select), url=url)
        assert all(r["status"] in ("succeeded", "skipped") for r in results), results
        return results

    return run


@pytest.fixture
def seeded_copy(seeded_template: str):
    """A factory of more copies of the small seed for one test (a test may compare two of them)."""
    from tests.conftest import _url_for, create_database, drop_database

    made: list[str] = []

    def make() -> str:
        made.append(create_database(template=seeded_template))
        return _url_for(made[-1])

    yield make
    for name in made:
        drop_database(name)
