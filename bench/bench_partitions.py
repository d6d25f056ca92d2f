"""Benchmark: what partition creation does to the product's inserts while a long reader holds audit_logs.
Prints figures; asserts nothing.

    .venv/bin/python bench/bench_partitions.py                 # reader holds 10 s, 5 writes/s of each kind
    .venv/bin/python bench/bench_partitions.py --hold 30 --rate 10

Against DATABASE_URL's server (else TEST_DATABASE_URL, else the local one at 127.0.0.1:5432, user
postgres): a scratch database is created, migrated and dropped. Each phase: a reader opens a
transaction and reads audit_logs (AccessShareLock on every partition, DEFAULT included) and holds it;
a writer inserts product audit events for this month, audit events far ahead (no month yet: DEFAULT)
and usage records, ``--rate`` times a second each; one second in, partitions are created:

* ``safe``: the ensure_partitions path (standalone table, CHECK, move out of DEFAULT, ATTACH, each attempt
  under a 150 ms lock_timeout with backoff), for six months ahead of both tables;
* ``naive``: the old ``CREATE TABLE ... PARTITION OF`` (ACCESS EXCLUSIVE on the parent, no lock_timeout).

Latencies are of the inserts due from the creation's start until it finished, each timed from when it was
due (open loop, one connection per kind), so a stall counts for every insert it held up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from auralink.db import partitions
from auralink.db.connection import scalar
from auralink.db.migrate import migrate

ADMIN_URL = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KINDS = ("audit (this month)", "audit (far ahead)", "usage (this month)")


def _url(dbname: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{dbname}"))


def _insert(conn: psycopg.Connection, kind: str, far: dt.datetime) -> None:
    now = dt.datetime.now(dt.UTC)
    if kind == "usage (this month)":
        conn.execute("INSERT INTO usage_records (organization_id, metric, quantity, recorded_at, idempotency_key)"
                     " VALUES (%s, 'call_minutes', 1, %s, %s)", (uuid.uuid4(), now, uuid.uuid4().hex))
    else:
        conn.execute("INSERT INTO audit_logs (action, occurred_at) VALUES ('user.login', %s)",
                     (now if kind == "audit (this month)" else far,))


def phase(url: str, label: str, create, hold: float, rate: float, far_days: int) -> None:
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=far_days)  # no month there: DEFAULT, until one is made
    reader = psycopg.connect(url)
    reader.execute("SELECT count(*) FROM audit_logs").fetchone()  # transaction left open: its locks stay
    stop = threading.Event()
    window: dict[str, float] = {}
    lat: dict[str, list[float]] = {k: [] for k in KINDS}

    def writer(kind: str) -> None:
        # Open loop: inserts are due every 1/rate s whatever happened to the last one, and each is timed
        # from when it was due (a stalled insert delays those due after it, as it would the product's).
        with psycopg.connect(url, autocommit=True) as w:
            due = time.monotonic()
            while not stop.is_set():
                time.sleep(max(0.0, due - time.monotonic()))
                _insert(w, kind, far)
                if window.get("start", float("inf")) <= due <= window.get("end", float("inf")):
                    lat[kind].append(time.monotonic() - due)
                due += 1 / rate

    def creator() -> None:
        time.sleep(1)
        window["start"] = time.monotonic()
        try:
            with psycopg.connect(url, autocommit=True) as c:
                window["detail"] = create(c)  # type: ignore[assignment]
        except psycopg.Error as exc:
            window["detail"] = f"failed: {exc}"  # type: ignore[assignment]
        window["end"] = time.monotonic()

    writers = [threading.Thread(target=writer, args=(k,)) for k in KINDS]
    making = threading.Thread(target=creator)
    for t in (*writers, making):
        t.start()
    time.sleep(hold)
    reader.rollback()
    reader.close()
    making.join()
    time.sleep(1)  # the writers catch up with inserts due during the creation
    stop.set()
    for t in writers:
        t.join()
    took = window["end"] - window["start"]
    print(f"{label}: creation took {took:5.2f} s ({window['detail']}); the reader let go {hold - 1:.1f} s after it began")
    for kind in KINDS:
        xs = sorted(lat[kind])
        if not xs:
            print(f"  {kind:20s} no inserts in the window")
            continue
        p99 = xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]
        print(f"  {kind:20s} n={len(xs):3d}  p50 {statistics.median(xs) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms"
              f"  worst {xs[-1] * 1000:8.1f} ms", flush=True)


def safe(conn: psycopg.Connection) -> str:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=180)
    out = partitions.ensure_partitions(conn, now=later, months_ahead=3)
    return ", ".join(f"{t}: {len(o.created)} months created, {o.rows_moved} rows moved out of DEFAULT"
                     for t, o in out.items())


def naive(conn: psycopg.Connection) -> str:
    # The pre-1100 ensure_monthly_partitions body, for months the safe phase did not make.
    first = partitions.add_months(dt.date.today().replace(day=1), 36)
    for i in range(3):
        m = partitions.add_months(first, i)
        for t in partitions.PARTITIONED_TABLES:
            conn.execute(f"CREATE TABLE {t}_p{m:%Y%m} PARTITION OF {t} FOR VALUES FROM "
                         f"('{m:%Y-%m-%d} 00:00:00+00') TO ('{partitions.add_months(m, 1):%Y-%m-%d} 00:00:00+00')")
    return "6 months created with CREATE TABLE ... PARTITION OF"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hold", type=float, default=10.0, help="seconds the reader holds audit_logs")
    ap.add_argument("--rate", type=float, default=5.0, help="inserts per second of each kind")
    args = ap.parse_args()
    name = f"auralink_bench_partitions_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        server = scalar(admin, "SHOW server_version")
    try:
        url = _url(name)
        migrate(url)
        print(f"PostgreSQL {server}; reader holds audit_logs {args.hold:.0f} s; {args.rate:g} inserts/s of each kind")
        phase(url, "safe  (LIKE + CHECK + ATTACH, lock_timeout 150 ms, retries)", safe, args.hold, args.rate, 400)
        phase(url, "naive (CREATE TABLE ... PARTITION OF)", naive, args.hold, args.rate, 800)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
