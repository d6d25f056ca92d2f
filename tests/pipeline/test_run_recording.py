"""Per-item outcomes go through the run's own long-lived autocommit connection: not a connection per item,
outside the item's transaction (an outcome survives the item's rollback), each committed as it is written."""

from __future__ import annotations

import pytest
from auralink.jobs import JobContext, job, registry, run_job


@pytest.fixture
def items_job():
    @job("zz_items_job", after=())
    def zz_items_job(ctx: JobContext, n: int = 50, fail_after: bool = False) -> dict:
        with ctx.connect() as conn:
            conn.execute("CREATE TEMP TABLE scratch (i int)")
            for i in range(n):
                conn.execute("INSERT INTO scratch VALUES (%s)", (i,))
                ctx.record_item("thing", i, "failed" if i % 10 == 0 else "succeeded", "every tenth is bad")
            conn.rollback()  # the items' own work is gone; their outcomes are not
        if fail_after:
            raise RuntimeError("the job fails after recording")
        return {}

    yield "zz_items_job"
    registry._JOBS.pop("zz_items_job", None)


def test_outcomes_use_one_connection_and_survive_the_items_rollback(db_url, db, items_job, monkeypatch):
    opened = []
    real = registry.connect
    monkeypatch.setattr(registry, "connect", lambda *a, **k: opened.append(1) or real(*a, **k))
    result = run_job(items_job, {"n": "50"}, url=db_url)
    assert result["status"] == "partial" and result["items"] == {"succeeded": 45, "failed": 5, "skipped": 0}
    # The run's connection (its row, its lock, every outcome) and the job's own: none per item.
    assert len(opened) == 2
    assert db.execute("SELECT count(*) FROM job_run_items WHERE job_run_id = %s", (result["run_id"],)).fetchone()[0] == 50


def test_outcomes_recorded_before_a_failure_stay(db_url, db, items_job):
    with pytest.raises(RuntimeError):
        run_job(items_job, {"n": "7", "fail_after": "true"}, url=db_url)
    status, n = db.execute("SELECT r.status, count(i.id) FROM job_runs r LEFT JOIN job_run_items i ON i.job_run_id = r.id "
                           "GROUP BY r.status").fetchone()
    assert status == "failed" and n == 7
