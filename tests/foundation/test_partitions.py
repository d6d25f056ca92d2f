"""Monthly partitions that cannot run out: DEFAULT catches every write, the nightly job creates months
ahead and empties DEFAULT, two creators at once both succeed, and a long reader never leaves a product
insert queued behind partition creation for longer than its lock_timeout (seen through pg_locks)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest
from auralink.compliance import archival
from auralink.db import partitions
from auralink.db.connection import scalar
from auralink.db.migrate import migrate
from auralink.jobs import JobContext, run_job

from tests.concurrency import run_concurrently
from tests.nights import ending

UTC = dt.UTC


def _wall() -> dt.datetime:
    return dt.datetime.now(UTC)


def _month(at: dt.datetime | dt.date) -> dt.date:
    return (at.date() if isinstance(at, dt.datetime) else at).replace(day=1)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out = [first]
    while out[-1] < last:
        out.append(partitions.add_months(out[-1], 1))
    return out


def _audit(c: psycopg.Connection, at: dt.datetime, action: str = "user.login") -> str:
    return scalar(c, "INSERT INTO audit_logs (action, occurred_at) VALUES (%s, %s) RETURNING tableoid::regclass::text",
                  (action, at))


def _usage(c: psycopg.Connection, at: dt.datetime) -> str:
    org = uuid.uuid4()  # usage_records has no foreign keys (the product writes it before anything else)
    return scalar(c, "INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)"
                     " VALUES (%s, 'call_minutes', 1, %s, %s) RETURNING tableoid::regclass::text",
                  (org, at, uuid.uuid4().hex))


def _archive(url: str, as_of: dt.datetime) -> dict:
    """Audit-log archival as of a given time (the job takes its time from the night it runs for)."""
    return archival.archive_audit_logs(JobContext(url=url, job_name="archive_audit_logs"), as_of=as_of, workers=1)


def _in_default(c: psycopg.Connection) -> tuple[int, int]:
    return (scalar(c, "SELECT count(*) FROM audit_logs_default"),
            scalar(c, "SELECT count(*) FROM usage_records_default"))


def test_fresh_migrate_takes_writes_now_next_month_and_in_400_days(fresh_db_url):
    migrate(fresh_db_url)
    now = _wall()
    next_month = dt.datetime.combine(partitions.add_months(_month(now), 1), dt.time(12), UTC)
    far = now + dt.timedelta(days=400)
    with psycopg.connect(fresh_db_url, autocommit=True) as c:
        for table, write in (("audit_logs", _audit), ("usage_records", _usage)):
            assert write(c, now) == f"{table}_p{now:%Y%m}"
            assert write(c, next_month) == f"{table}_p{next_month:%Y%m}"
            assert write(c, far) == f"{table}_default"  # beyond the months made ahead: DEFAULT, never refused
            listed = partitions.list_partitions(c, table)
            assert [p.name for p in listed] == [f"{table}_p{m:%Y%m}" for m in
                                                _months(_month(now), partitions.add_months(_month(now), 3))] + [f"{table}_default"]
            assert listed[-1].is_default and listed[-1].range_start is None
            # The DEFAULT partition is not a month: archival and retention never see it.
            months = [r[0] for r in c.execute("SELECT partition_name FROM monthly_partitions(%s::regclass)", (table,))]
            assert f"{table}_default" not in months and len(months) == 4


def test_rows_in_default_move_to_their_month_on_the_next_run(db):
    now = _wall()
    ahead, back = now + dt.timedelta(days=400), now - dt.timedelta(days=400)
    assert _audit(db, ahead) == _audit(db, back) == "audit_logs_default"
    assert _usage(db, ahead) == "usage_records_default"
    result = run_job("ensure_partitions", {})
    assert result["status"] == "succeeded", result
    assert result["rows_moved_from_default"] == 3
    assert set(result["created"]) == {f"audit_logs_p{ahead:%Y%m}", f"audit_logs_p{back:%Y%m}", f"usage_records_p{ahead:%Y%m}"}
    assert _in_default(db) == (0, 0)
    placed = db.execute("SELECT tableoid::regclass::text, occurred_at FROM audit_logs ORDER BY occurred_at").fetchall()
    assert [p[0] for p in placed] == [f"audit_logs_p{back:%Y%m}", f"audit_logs_p{ahead:%Y%m}"]
    # A moved-into month is an ordinary partition: the parent's indexes, no leftover bounds CHECK.
    name = f"audit_logs_p{ahead:%Y%m}"
    parent = db.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_logs'").fetchone()[0]
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (name,)).fetchone()[0] == parent >= 4
    assert db.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND conname LIKE '%%bounds'",
                      (name,)).fetchone()[0] == 0
    # New writes for that month now go to it, and the next run has nothing to do.
    assert _audit(db, ahead + dt.timedelta(hours=1)) == name
    again = run_job("ensure_partitions", {})
    assert again["partitions_created"] == 0 and again["rows_moved_from_default"] == 0


def test_horizon_follows_the_later_of_wall_clock_and_now(db):
    now = _wall()
    past = run_job("ensure_partitions", {}, interval=ending("2020-01-15T02:00:00+00:00"))
    assert past["status"] == "skipped"  # current night only: a backfill never creates (or recreates) months
    assert db.execute("SELECT count(*) FROM monthly_partitions('audit_logs') WHERE range_start < %s",
                      (_month(now),)).fetchone()[0] == 0
    later = now + dt.timedelta(days=200)
    result = run_job("ensure_partitions", {"months_ahead": 3}, interval=ending(later.isoformat()))
    expected = _months(_month(now), partitions.add_months(_month(later), 3))
    for table in partitions.PARTITIONED_TABLES:
        have = [p.range_start.date() for p in partitions.list_partitions(db, table) if not p.is_default]
        assert have == expected
    assert result["partitions_created"] == 2 * (len(expected) - 4)


def test_archived_months_are_never_recreated(db_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-05-01', '2026-05-01')")
    _audit(db, dt.datetime(2026, 5, 10, tzinfo=UTC))
    archived = _archive(db_url, dt.datetime(2026, 11, 27, tzinfo=UTC))
    assert archived["dropped"] == 1 and archived["rows_archived"] == 1
    # Late, back-dated events: for the archived month, an older one, and a later month never archived.
    assert _audit(db, dt.datetime(2026, 5, 20, tzinfo=UTC), "late.event") == "audit_logs_default"
    assert _audit(db, dt.datetime(2026, 4, 2, tzinfo=UTC), "late.event") == "audit_logs_default"
    assert _audit(db, dt.datetime(2026, 9, 15, tzinfo=UTC), "late.event") == "audit_logs_default"
    result = run_job("ensure_partitions", {})
    assert result["created"] == ["audit_logs_p202609"] and result["rows_kept_in_default"] == 2
    names = {p.name for p in partitions.list_partitions(db, "audit_logs")}
    assert not {"audit_logs_p202605", "audit_logs_p202604"} & names
    assert _in_default(db)[0] == 2
    reasons = [r[0] for r in db.execute("SELECT reason FROM job_run_items WHERE job_run_id = %s AND outcome = 'skipped'",
                                        (result["run_id"],))]
    assert len(reasons) == 2 and all("newest archived month 2026-05" in r for r in reasons)


def test_months_ahead_that_archival_dropped_stay_dropped(db_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    now = _wall()
    # Archival run as of 500 days from now drops the (empty) months migrate made ahead.
    archived = _archive(db_url, now + dt.timedelta(days=500))
    assert archived["dropped"] == 4
    result = run_job("ensure_partitions", {})
    assert result["partitions_created"] == 0
    assert partitions.list_partitions(db, "audit_logs")[0].is_default  # DEFAULT alone, still taking writes
    assert _audit(db, now) == "audit_logs_default"
    # Past the newest archived month creation goes on as usual.
    later = now + dt.timedelta(days=200)
    created = run_job("ensure_partitions", {}, interval=ending(later.isoformat()))["created"]
    first_new = partitions.add_months(_month(now), 4)
    assert f"audit_logs_p{first_new:%Y%m}" in created
    assert not [n for n in created if n.startswith("audit_logs_") and n < f"audit_logs_p{first_new:%Y%m}"]


def test_two_partition_jobs_at_once_both_succeed(db_url, db):
    now = _wall()
    later = now + dt.timedelta(days=300)
    for days in (400, 430, 500):
        _audit(db, now + dt.timedelta(days=days))
        _usage(db, now + dt.timedelta(days=days))

    def job() -> dict[str, partitions.Outcome]:
        with psycopg.connect(db_url, autocommit=True) as c:
            return partitions.ensure_partitions(c, now=later)

    results, errors = run_concurrently(job, times=3)
    assert errors == []
    created = [n for r in results for o in r.values() for n in o.created]
    assert len(created) == len(set(created))  # each month made once, by whichever got there first
    ahead = _months(partitions.add_months(_month(now), 4), partitions.add_months(_month(later), 3))
    waiting = {_month(now + dt.timedelta(days=d)) for d in (400, 430, 500)}
    expected = {f"{t}_p{m:%Y%m}" for t in partitions.PARTITIONED_TABLES for m in set(ahead) | waiting}
    assert set(created) == expected
    assert _in_default(db) == (0, 0)
    assert sum(o.rows_moved for r in results for o in r.values()) == 6

    # The SQL function the seed and the product call, from three sessions at once.
    def sql_call() -> int:
        with psycopg.connect(db_url, autocommit=True) as c:
            return scalar(c, "SELECT ensure_monthly_partitions('audit_logs', '2031-01-01', '2031-06-01')")

    counts, errors = run_concurrently(sql_call, times=3)
    assert errors == [] and sorted(counts) == [0, 0, 6]

    # And the job itself, twice at once: neither fails (a run that finds the night done may be skipped).
    runs, errors = run_concurrently(lambda: run_job("ensure_partitions", {}, interval=ending((later + dt.timedelta(days=60)).isoformat())),
                                    times=2)
    assert errors == [] and all(r["status"] in ("succeeded", "skipped") for r in runs)


def _waits(sampler: psycopg.Connection) -> list[tuple[str, str | None, str, dt.datetime | None, float | None]]:
    """Every lock not granted in this database: (application, relation, mode, waitstart, seconds waited)."""
    return sampler.execute(
        "SELECT a.application_name, l.relation::regclass::text, l.mode, l.waitstart,"
        " extract(epoch FROM clock_timestamp() - l.waitstart)::float8"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()").fetchall()


def test_creation_behind_a_long_reader_never_queues_inserts(db_url, db):
    """A reader holds audit_logs (every partition, DEFAULT too) for 10 s while the product writes and
    the job creates months. The creator's lock request on DEFAULT never outlives one attempt (150 ms),
    writes queue only behind such an attempt, and both kinds of insert complete while the reader holds."""
    lock_timeout = 0.150
    now = _wall()
    far = now + dt.timedelta(days=400)  # lands in DEFAULT until its month exists
    # One far row before the job starts, so the month it must make out of DEFAULT does not depend on
    # whether the writer's first insert beats the job's look at DEFAULT.
    assert _audit(db, far) == "audit_logs_default"
    reader = psycopg.connect(db_url)    # not autocommit: the transaction stays open, its locks held
    reader.execute("SELECT count(*) FROM audit_logs").fetchone()
    reader_pid = reader.info.backend_pid

    stop = threading.Event()
    written: list[tuple[str, str]] = []   # (kind, partition) of each completed insert
    while_held: list[int] = []            # inserts completed while the reader still held its locks
    failures: list[BaseException] = []

    def product() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True, application_name="product-writer") as w:
                while not stop.is_set():
                    written.append(("now", _audit(w, _wall())))
                    written.append(("far", _audit(w, far)))
                    _usage(w, _wall())
                    time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    job_result: dict = {}

    def creator() -> None:
        try:
            job_result.update(run_job("ensure_partitions", {"lock_timeout_ms": int(lock_timeout * 1000)},
                                      interval=ending(now + dt.timedelta(days=200))))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=product), threading.Thread(target=creator)]
    for t in threads:
        t.start()
    samples = []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            samples.extend(_waits(db))
            # the reader is still there, holding audit_logs_default: count what got written meanwhile
            held = db.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND granted AND relation = "
                              "'audit_logs_default'::regclass", (reader_pid,)).fetchone()[0]
            if held:
                while_held.append(len(written))
            time.sleep(0.02)
    finally:
        reader.rollback()
        reader.close()
        threads[1].join(timeout=120)  # the creator finishes once the reader is gone
        time.sleep(0.3)               # one more round of writes after it
        stop.set()
        threads[0].join(timeout=60)
    assert failures == []

    creator_waits = [s for s in samples if s[0] == "auralink:ensure_partitions"]
    writer_waits = [s for s in samples if s[0] == "product-writer"]
    # The creator asked for DEFAULT's lock, gave up, and asked again: many separate waits, none long.
    attempts = {s[3] for s in creator_waits if s[3] is not None}
    assert len(attempts) >= 3, creator_waits
    assert all(s[1] == "audit_logs_default" and s[2] == "AccessExclusiveLock" for s in creator_waits)
    assert max(s[4] or 0 for s in creator_waits) < 1.0   # one attempt is 150 ms; the reader held 10 s
    # Writes only ever queued behind such an attempt (on the parent, held against inserts while a month
    # is attached, or on DEFAULT), never for longer than it.
    assert all(s[1] in ("audit_logs", "audit_logs_default") for s in writer_waits), writer_waits
    assert max((s[4] or 0 for s in writer_waits), default=0) < 1.0
    # Both kinds of insert went through while the reader still held its lock.
    done = written[:max(while_held)]
    assert sum(k == "now" for k, _ in done) >= 10 and sum(k == "far" for k, _ in done) >= 10
    assert {p for k, p in done if k == "far"} == {"audit_logs_default"}
    # Once the reader was gone, the job finished: every month made, DEFAULT emptied into its month.
    assert job_result["status"] == "succeeded", job_result
    assert f"audit_logs_p{far:%Y%m}" in job_result["created"]
    assert written[-1] == ("far", f"audit_logs_p{far:%Y%m}")
    assert _in_default(db)[0] == 0


def test_an_insert_waiting_while_its_month_is_attached_lands_in_the_new_month(db_url, db):
    """The race a product write once lost: an insert routed to DEFAULT while its month is being attached.
    The creator holds the parent against inserts, so the insert waits and then goes to the new month
    (before, it waited on DEFAULT and failed on DEFAULT's new partition constraint)."""
    far = _wall() + dt.timedelta(days=400)
    assert _audit(db, far) == "audit_logs_default"
    creator = psycopg.connect(db_url)   # not autocommit: the attach's locks stay held until it commits
    creator.execute("SELECT * FROM attach_monthly_partition('audit_logs', %s)", (far.date(),)).fetchall()
    result: dict = {}

    def write() -> None:
        with psycopg.connect(db_url, autocommit=True, application_name="product-writer") as w:
            try:
                result["partition"] = _audit(w, far)
            except psycopg.Error as exc:
                result["error"] = exc

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 10
    while not scalar(db, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
                         "AND a.application_name = 'product-writer'") and time.monotonic() < deadline:
        time.sleep(0.02)
    creator.commit()
    creator.close()
    writer.join(timeout=30)
    assert result == {"partition": f"audit_logs_p{far:%Y%m}"}


def test_creation_that_cannot_get_its_lock_fails_in_one_line_and_writes_go_on(db_url, db):
    db.execute("SET lock_timeout = '5s'")
    reader = psycopg.connect(db_url)
    reader.execute("SELECT count(*) FROM audit_logs").fetchone()
    try:
        with pytest.raises(psycopg.errors.LockNotAvailable, match=r"probe: gave up after \d+ attempts"):
            db.execute("SELECT exec_with_lock_retry('probe', ARRAY['LOCK TABLE audit_logs_default IN ACCESS EXCLUSIVE MODE'],"
                       " interval '100 ms', interval '1 s')")
        assert db.execute("SHOW lock_timeout").fetchone()[0] == "5s"  # the caller's setting, untouched
        later = (_wall() + dt.timedelta(days=200)).isoformat()
        out = subprocess.run([sys.executable, "-m", "auralink.cli", "jobs", "run", "ensure_partitions", "--scheduled-time", later,
                              "-p", "max_wait_seconds=1"], check=False, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "DATABASE_URL": db_url, "AURALINK_LOG_LEVEL": "ERROR"})
        # The product's writes still land (DEFAULT) while the reader holds.
        assert _audit(db, _wall() + dt.timedelta(days=400)) == "audit_logs_default"
    finally:
        reader.rollback()
        reader.close()
    assert out.returncode == 1, out
    errors = [line for line in out.stderr.splitlines() if line.startswith("auralink: error:")]
    assert len(errors) == 1 and "partition(s) not created" in errors[0] and "gave up after" in errors[0]
    assert "Traceback" not in out.stderr
    assert db.execute("SELECT status FROM job_runs WHERE job_name = 'ensure_partitions'").fetchone()[0] == "failed"
    # Once the reader is gone the next run makes everything; the caller's lock_timeout was never changed.
    assert run_job("ensure_partitions", {}, interval=ending(later))["status"] == "succeeded"
    assert db.execute("SELECT ensure_monthly_partitions('audit_logs', '2032-01-01', '2032-01-01')").fetchone()[0] == 1
    assert db.execute("SHOW lock_timeout").fetchone()[0] == "5s"


def test_archival_detach_behind_a_long_reader_retries_and_inserts_go_on(db_url, db, tmp_path, monkeypatch):
    """With DEFAULT present a DETACH takes ACCESS EXCLUSIVE on audit_logs (CONCURRENTLY is refused): it
    asks in short attempts, so inserts into the current month wait at most one attempt, never the reader."""
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    db.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-05-01', '2026-05-01')")
    _audit(db, dt.datetime(2026, 5, 10, tzinfo=UTC))
    reader = psycopg.connect(db_url)
    reader.execute("SELECT count(*) FROM audit_logs").fetchone()
    outcome: dict = {}
    archiver = threading.Thread(target=lambda: outcome.update(_archive(db_url, dt.datetime(2026, 11, 27, tzinfo=UTC))))
    archiver.start()
    samples, inserted = [], []
    try:
        with psycopg.connect(db_url, autocommit=True, application_name="product-writer") as w:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                samples.extend(_waits(db))
                inserted.append(_audit(w, _wall()))
                time.sleep(0.05)
        assert outcome == {}  # still waiting for the reader
    finally:
        reader.rollback()
        reader.close()
        archiver.join(timeout=120)
    detach_waits = [s for s in samples if s[0] == "auralink:archive_audit_logs"]
    assert len({s[3] for s in detach_waits if s[3] is not None}) >= 3, detach_waits
    assert all(s[1] == "audit_logs" and s[2] == "AccessExclusiveLock" for s in detach_waits)
    assert max(s[4] or 0 for s in detach_waits) < 1.0
    writer_waits = [s for s in samples if s[0] == "product-writer"]
    assert max((s[4] or 0 for s in writer_waits), default=0) < 1.0
    assert len(inserted) >= 20  # the product kept writing while the reader held and archival waited
    assert outcome["dropped"] == 1 and outcome["rows_archived"] == 1

