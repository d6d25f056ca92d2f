"""Benchmark: a 7-night backfill in one process (`auralink pipeline backfill`) against the same seven
nights run one by one as separate commands (`auralink pipeline run --date D`, as a cron would). Prints
figures; asserts nothing. Both start from copies of the same seed, and end with the same marts.

    .venv/bin/python bench/bench_backfill.py                   # 20 orgs, 14 days, the last 7 backfilled
    .venv/bin/python bench/bench_backfill.py --orgs 100 --days 30

It creates its databases on the server of TEST_DATABASE_URL (default 127.0.0.1:5432, user postgres) and
drops them afterwards. Speech is left out (--no-audio): recordings are another benchmark's subject.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url(dbname: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + dbname


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orgs", type=int, default=20)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--nights", type=int, default=7)
    args = ap.parse_args()
    end = dt.date(2026, 11, 20)
    first = end - dt.timedelta(days=args.nights - 1)
    base = f"auralink_bench_backfill_{os.getpid()}"
    env = {**os.environ, "AURALINK_HOME": tempfile.mkdtemp(prefix="auralink-bench-backfill-"),
           "AURALINK_SECRET_KEY": os.environ.get("AURALINK_SECRET_KEY",
                                                 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
           "AURALINK_LOG_LEVEL": "WARNING"}
    names = [base, f"{base}_a", f"{base}_b"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{base}"')
    try:
        cli = [sys.executable, "-m", "auralink.cli"]
        run = lambda db, *a: subprocess.run([*cli, *a], env={**env, "DATABASE_URL": _url(db)}, check=True,
                                            stdout=subprocess.DEVNULL)
        run(base, "db", "migrate")
        t0 = time.perf_counter()
        run(base, "seed", "--orgs", str(args.orgs), "--days", str(args.days), "--end-date", end.isoformat(),
            "--no-audio", "--quiet")
        print(f"seeded {args.orgs} orgs x {args.days} days in {time.perf_counter() - t0:.0f} s; "
              f"nights {first} .. {end}")
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for name in names[1:]:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
        t0 = time.perf_counter()
        run(names[1], "pipeline", "backfill", "--from-date", first.isoformat(), "--to-date", end.isoformat())
        backfill_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(args.nights):
            run(names[2], "pipeline", "run", "--date", (first + dt.timedelta(days=i)).isoformat())
        singles_s = time.perf_counter() - t0
        print(f"  backfill of {args.nights} nights, one process     {backfill_s:8.1f} s "
              f"({backfill_s / args.nights:.1f} s a night)")
        print(f"  {args.nights} single nights, one command each     {singles_s:8.1f} s "
              f"({singles_s / args.nights:.1f} s a night)")
        print(f"  ratio single nights / backfill: {singles_s / backfill_s:.2f}")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
