"""dbt build on the seeded data: views, MOS parity (SQL vs Python), billing parity, idempotent re-runs,
late rows, and the AI-cost job. One build per module (see conftest.built_analytics_url)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from auralink.analytics import dbt_runner
from auralink.analytics.views import view_row_counts
from auralink.jobs import run_job
from auralink.quality import mos

pytestmark = pytest.mark.usefixtures("built_analytics_url")


@pytest.fixture
def url(built_analytics_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", built_analytics_url[0])
    return built_analytics_url[0]


def test_build_passes_with_unit_tests_and_mos_reference_test(built_analytics_url):
    _, run = built_analytics_url
    assert run.success and not run.failures
    ids = {n["unique_id"]: n["status"] for n in run.nodes}
    assert ids["test.auralink.assert_mos_macro_matches_reference_points"] == "pass"
    unit = {k: v for k, v in ids.items() if k.startswith("unit_test.")}
    assert len(unit) >= 3 and set(unit.values()) == {"pass"}


def test_every_view_is_built_with_rows_and_refreshes_concurrently(url):
    counts = view_row_counts(url, require_rows=True)
    assert set(counts) == set(dbt_runner.ANALYTICS_VIEWS)
    from auralink.pipeline import PRODUCED

    with psycopg.connect(url, autocommit=True) as conn:
        for name in (p for p in PRODUCED if p.startswith("analytics.")):
            assert conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None, name
        refreshed = {v: c for v, c, _ in conn.execute("SELECT * FROM refresh_analytics_views()").fetchall()}
        # One row per (org, day) and (org, period): keys the unique indexes guarantee.
        orgs, days = conn.execute(
            "SELECT count(DISTINCT organization_id), count(DISTINCT usage_date) FROM analytics.daily_usage_summary"
        ).fetchone()
        monthly = conn.execute(
            "SELECT count(*) FROM analytics.organization_analytics_summary WHERE period_type = 'month'").fetchone()[0]
    assert refreshed == {"daily_usage_summary": True, "organization_analytics_summary": True}
    assert orgs == 4 and days >= 5 and monthly >= 4


def test_sql_mos_matches_python_on_every_seeded_sample(url):
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT s.rtt_ms, s.jitter_ms, s.packet_loss, s.codec_name, s.mos, s.quality_bucket
               FROM analytics_intermediate.int_call_quality_samples_scored s"""
        ).fetchall()
    assert len(rows) > 1000
    assert {r[3] for r in rows} >= {"opus", "g711"}
    for rtt, jitter, loss, codec, sql_mos, bucket in rows:
        python_mos = mos.mos_from_network(rtt, jitter, loss, codec)
        assert abs(float(sql_mos) - python_mos) < 0.001, (rtt, jitter, loss, codec)
        assert bucket == mos.quality_bucket(float(sql_mos))
    assert any(b == "poor" for *_, b in rows), "the seed's bad-quality tail should rate poor"


def test_monthly_costs_equal_the_billing_function(url):
    run = dbt_runner.run_dbt(["test", "--select", "tag:parity"], url=url)
    assert run.statuses == {"pass": 2}


def test_rerun_changes_nothing(url, analytics_snapshot):
    before = analytics_snapshot(url)
    dbt_runner.build(url=url)
    second = run_job("ai_usage_costs", url=url)
    assert second["rows_written"] == 0 and second["rows_removed"] == 0
    assert analytics_snapshot(url) == before


def test_late_usage_rows_are_picked_up_by_the_next_night(url):
    with psycopg.connect(url, autocommit=True) as conn:
        org, oldest = conn.execute(
            "SELECT organization_id, min(usage_date) FROM analytics.daily_usage_summary GROUP BY 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
        # A usage record for the oldest day arriving now: outside the lookback window, caught by received_at.
        conn.execute(
            """INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, received_at, idempotency_key)
               VALUES (%s, 'call_minutes', 1234, %s, now(), 'late-row-test')""",
            (org, dt.datetime.combine(oldest, dt.time(12), tzinfo=dt.UTC)),
        )
    dbt_runner.build(url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        expected = conn.execute(
            """SELECT sum(quantity) FROM usage_records WHERE organization_id = %s AND metric = 'call_minutes'
               AND recorded_at >= %s::date AND recorded_at < %s::date + 1""", (org, oldest, oldest)).fetchone()[0]
        got = conn.execute(
            "SELECT call_minutes FROM analytics.daily_usage_summary WHERE organization_id = %s AND usage_date = %s",
            (org, oldest)).fetchone()[0]
    assert got == expected
    assert dbt_runner.run_dbt(["test", "--select", "tag:parity"], url=url).statuses == {"pass": 2}


def test_ai_costs_unpriced_model_fails_alone(url):
    with psycopg.connect(url, autocommit=True) as conn:
        org, day = conn.execute("SELECT organization_id, max(usage_date) FROM ai_usage_analytics GROUP BY 1 LIMIT 1").fetchone()
        conn.execute(
            """INSERT INTO ai_usage (organization_id, feature, provider, model, unit_type, units, input_tokens,
                                     output_tokens, cost_usd, occurred_at)
               VALUES (%s, 'llm', 'acme', 'unpriced-7b', 'requests', 1, 100, 50, 0.01, %s)""",
            (org, dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)))
    dbt_runner.build(url=url, select="+fct_ai_usage_daily")
    result = run_job("ai_usage_costs", url=url)
    assert result["status"] == "partial" and result["items"]["failed"] == 1
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """SELECT requests, list_cost_usd, recorded_cost_usd FROM ai_usage_analytics
               WHERE organization_id = %s AND usage_date = %s AND model = 'unpriced-7b'""", (org, day)).fetchone()
        item_id, reason = conn.execute("SELECT item_id, reason FROM job_run_items WHERE job_run_id = %s", (result["run_id"],)).fetchone()
    assert (row[0], float(row[1]), float(row[2])) == (1, 0.0, pytest.approx(0.01))
    assert item_id == "llm/acme/unpriced-7b"
    assert "no price" in reason and "ai_price_book.csv" in reason
