"""Benchmark: audit-log archival against the bare `COPY | zstd` floor on the same rows, with the product
writing and a long reader running beside it. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_archival.py --rows 2000000          # the issue's comparison
    .venv/bin/python bench/bench_archival.py --rows 200000 --reader-seconds 5   # quicker
    .venv/bin/python bench/bench_archival.py --reader-seconds 0 --workers 1     # throughput alone, one month at a time

It creates its own database on the server of TEST_DATABASE_URL (default 127.0.0.1:5432, user postgres),
generates three months of audit rows (January-March 2026, one organization under a litigation hold) in
SQL, then:

1. the floor: `psql -c "COPY (SELECT <columns> FROM <partition>) TO STDOUT (FORMAT csv, HEADER)" | zstd -3`
   to /dev/null for each partition, the same rows the archival reads;
2. the archival job for the night of 2026-06-30 (all three months wholly past 90 days), while a writer
   inserts current audit events and usage records 5 times a second and a reader holds `audit_logs` in
   10-second queries back to back;
3. prints both times, the ratio (target: within 1.5x of the floor), the job's time per step, and the
   writer's worst and p99 insert latency.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from beside import Beside

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NIGHT = dt.date(2026, 6, 30)
PARTITIONS = ("audit_logs_p202601", "audit_logs_p202602", "audit_logs_p202603")


def _url(dbname: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + dbname


def generate(url: str, rows: int, users: int, orgs: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("INSERT INTO organizations (id, name, slug, plan) SELECT md5('o' || n)::uuid, 'Bench org ' || n,"
                  " 'bench-' || n, 'enterprise' FROM generate_series(0, %s - 1) n", (orgs,))
        c.execute("INSERT INTO users (id, email, full_name) SELECT md5('u' || n)::uuid, 'user' || n || '@bench.example',"
                  " 'Bench User ' || n FROM generate_series(0, %s - 1) n", (users,))
        c.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-03-01')")
        span, step = 90 * 86400, 1_000_000
        for lo in range(0, rows, step):
            c.execute(
                "INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type, resource_id,"
                " ip_address, user_agent, request_metadata, occurred_at)"
                " SELECT md5('o' || ((g * 7919 %% %(users)s) %% %(orgs)s))::uuid, md5('u' || (g * 7919 %% %(users)s))::uuid,"
                "  'user' || (g * 7919 %% %(users)s) || '@bench.example',"
                "  (ARRAY['auth.login','recording.view','call.join','settings.update','export.create'])[1 + g %% 5],"
                "  'recording', md5(g::text), ('10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.1')::inet,"
                "  'Mozilla/5.0 (X11; Linux x86_64)', jsonb_build_object('path', '/api/v1/items/' || g, 'status', 200),"
                "  '2026-01-01'::timestamptz + ((g::bigint * %(span)s) / %(rows)s) * interval '1 second'"
                " FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g",
                {"users": users, "orgs": orgs, "span": span, "rows": rows, "lo": lo, "hi": min(rows, lo + step) - 1})
        c.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (md5('o3')::uuid,"
                  " 'organization', 'Bench litigation hold', 'bench')")
        c.execute("ANALYZE audit_logs")


def floor_seconds(url: str) -> float:
    """`psql COPY | zstd -3 > /dev/null` over the partitions the archival will read."""
    from auralink.compliance.archival import COLUMNS

    total = 0.0
    for name in PARTITIONS:
        copy = f"COPY (SELECT {', '.join(COLUMNS)} FROM {name}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        t0 = time.perf_counter()
        subprocess.run(f"psql '{url}' -Xqc \"{copy}\" | zstd -3 -q > /dev/null", shell=True, check=True)
        total += time.perf_counter() - t0
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--orgs", type=int, default=50)
    ap.add_argument("--reader-seconds", type=float, default=10.0, help="0: no reader beside the archival")
    ap.add_argument("--workers", type=int, default=None, help="the job's workers parameter (default: the job's)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if shutil.which("zstd") is None or shutil.which("psql") is None:
        raise SystemExit("needs psql and zstd on PATH for the floor (apt-get install postgresql-client zstd)")
    dbname = f"auralink_bench_archival_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="auralink-bench-archival-"))
    os.environ.update(AURALINK_HOME=str(work), AURALINK_ARCHIVE_URL=str(work / "archives"))
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    url = _url(dbname)
    os.environ["DATABASE_URL"] = url
    try:
        from auralink.db.migrate import migrate
        from auralink.jobs import run_job
        from auralink.jobs.interval import DataInterval

        print(f"archival benchmark: {args.rows:,} audit rows over 90 days; reader {args.reader_seconds:g} s queries; "
              f"workers {args.workers or 'default'}")
        migrate(url)
        t0 = time.perf_counter()
        generate(url, args.rows, args.users, args.orgs)
        print(f"  generated in {time.perf_counter() - t0:.1f} s")
        floor = floor_seconds(url)
        print(f"  floor: COPY | zstd -3, the same partitions         {floor:8.2f} s")
        with Beside(url, args.reader_seconds) as beside:
            t0 = time.perf_counter()
            params = {"workers": args.workers} if args.workers else None
            out = run_job("archive_audit_logs", params, interval=DataInterval.for_day(NIGHT), url=url)
            archive = time.perf_counter() - t0
        steps: dict[str, float] = {}
        for r in out["results"]:
            for k, v in (r.get("seconds") or {}).items():
                steps[k] = steps.get(k, 0.0) + v
        print(f"  archive_audit_logs ({out['rows_archived']:,} rows archived, {out['rows_held']:,} held)"
              f"  {archive:8.2f} s")
        print("    by step: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
        print(f"  ratio to the floor: {archive / floor:.2f}x (target <= 1.5x); "
              f"{out['rows_archived'] / archive:,.0f} rows/s")
        print(f"  {beside.summary()}")
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept database {dbname} and files in {work}")


if __name__ == "__main__":
    main()
