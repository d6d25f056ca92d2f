"""Benchmark: audit-log archival of 90 days of a large audit log, and per-user export and erasure at
that scale. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_compliance.py --rows 10000000          # the issue's scale
    .venv/bin/python bench/bench_compliance.py --rows 1000000           # quicker

It creates its own database on the server of TEST_DATABASE_URL (default 127.0.0.1:5432, user postgres),
generates the rows in SQL with generate_series (the seed's volume is far lower), and drops the database
afterwards unless --keep. The 90 days are January-March 2026; the run is "as of" 2026-07-01 so all three
monthly partitions are wholly past 90-day retention.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AS_OF = "2026-07-01T00:00:00+00:00"


def _url(dbname: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + dbname


def timed(label: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    secs = time.perf_counter() - t0
    print(f"  {label:48s} {secs:9.2f} s", flush=True)
    return out, secs


def generate(url: str, rows: int, users: int, orgs: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("INSERT INTO organizations (id, name, slug, plan) SELECT md5('o' || n)::uuid, 'Bench org ' || n,"
                  " 'bench-' || n, 'enterprise' FROM generate_series(0, %s - 1) n", (orgs,))
        c.execute("INSERT INTO users (id, email, full_name, phone) SELECT md5('u' || n)::uuid,"
                  " 'user' || n || '@bench.example', 'Bench User ' || n, '+1-555-' || lpad(n::text, 7, '0')"
                  " FROM generate_series(0, %s - 1) n", (users,))
        c.execute("INSERT INTO organization_members (organization_id, user_id) SELECT md5('o' || (n %% %s))::uuid,"
                  " md5('u' || n)::uuid FROM generate_series(0, %s - 1) n", (orgs, users))
        # The subject (user 1) also has calls, transcripts and AI usage, as a real user would.
        c.execute("INSERT INTO calls (id, organization_id, initiated_by, started_at) SELECT md5('c' || n)::uuid,"
                  " md5('o1')::uuid, md5('u1')::uuid, '2026-06-01'::timestamptz + n * interval '1 hour'"
                  " FROM generate_series(1, 50) n")
        c.execute("INSERT INTO call_participants (call_id, user_id, display_name, joined_at) SELECT md5('c' || n)::uuid,"
                  " md5('u' || u)::uuid, 'Bench User ' || u, '2026-06-01' FROM generate_series(1, 50) n,"
                  " (VALUES (1), (%s + 1)) v(u)", (orgs,))
        c.execute("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri) SELECT md5('r' || n)::uuid,"
                  " md5('c' || n)::uuid, md5('o1')::uuid, 'file:///nonexistent/' || n || '.wav' FROM generate_series(1, 50) n")
        c.execute("INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text)"
                  " SELECT md5('r' || n)::uuid, md5('c' || n)::uuid, md5('o1')::uuid, 'whisper', 'tiny',"
                  " 'Bench User 1 talks about the roadmap; reach me at user1@bench.example. ' || repeat('words ', 200)"
                  " FROM generate_series(1, 50) n")
        c.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-07-01')")
        t0 = time.perf_counter()
        step = 1_000_000
        span = 90 * 86400
        for lo in range(0, rows, step):
            hi = min(rows, lo + step) - 1
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
                {"users": users, "orgs": orgs, "span": span, "rows": rows, "lo": lo, "hi": hi})
        # One organization is under a litigation hold: its rows go to audit_logs_held, not to the files.
        c.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (md5('o3')::uuid,"
                  " 'organization', 'Bench litigation hold', 'bench')")
        c.execute("ANALYZE audit_logs")
        print(f"  generated {rows:,} audit rows in {time.perf_counter() - t0:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--orgs", type=int, default=50)
    ap.add_argument("--keep", action="store_true", help="keep the database and files")
    args = ap.parse_args()

    dbname = f"auralink_bench_compliance_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="auralink-bench-compliance-"))
    os.environ.update(AURALINK_HOME=str(work), AURALINK_ARCHIVE_URL=str(work / "archives"),
                      AURALINK_EXPORT_URL=str(work / "exports"))
    os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # bench-only key
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    url = _url(dbname)
    os.environ["DATABASE_URL"] = url
    try:
        from auralink.compliance import requests
        from auralink.db.migrate import migrate
        from auralink.jobs import run_job

        print(f"compliance benchmark: {args.rows:,} audit rows over 90 days, {args.users:,} users, {args.orgs} orgs")
        migrate(url)
        _, _gen_s = timed("generate (SQL generate_series)", generate, url, args.rows, args.users, args.orgs)
        with psycopg.connect(url, autocommit=True) as c:
            size = c.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_logs_p202601') * 3)").fetchone()[0]
            subject_rows = c.execute("SELECT count(*) FROM audit_logs WHERE actor_user_id = md5('u1')::uuid").fetchone()[0]
            print(f"  audit log size ~{size}; the subject has {subject_rows:,} audit events")
            org1 = c.execute("SELECT md5('o1')::uuid").fetchone()[0]
            figures = {}
            for fmt in ("json", "csv", "pdf"):
                rid = requests.submit_request(c, organization_id=org1, request_type="export", export_format=fmt,
                                              subject_email="user1@bench.example")
                out, secs = timed(f"export one user ({fmt})", run_job, "process_compliance_requests", {"request_id": str(rid)})
                assert out["completed"] == 1, out
                figures[f"export_{fmt}"] = secs
            # Completed exports would make the erasure a "duplicate"? No: only open requests count.
            rid = requests.submit_request(c, organization_id=org1, request_type="deletion", subject_email="user1@bench.example")
            out, secs = timed("erase one user (incl. full identifier sweep)", run_job, "process_compliance_requests",
                              {"request_id": str(rid)})
            assert out["completed"] == 1, out
            figures["erasure"] = secs
            out, secs = timed("archive 3 monthly partitions (90 days)", run_job, "archive_audit_logs", {"as_of": AS_OF})
            held = c.execute("SELECT count(*) FROM audit_logs_held").fetchone()[0]
            assert out["rows_archived"] + held == args.rows, out
            print(f"    {held:,} rows under the hold moved to audit_logs_held")
            figures["archive"] = secs
            steps: dict[str, float] = {}
            for r in out["results"]:
                for k, v in (r.get("seconds") or {}).items():
                    steps[k] = steps.get(k, 0.0) + v
            print("    by step: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
            arch = c.execute("SELECT sum(row_count)::bigint, sum(file_bytes)::bigint FROM audit_log_archives WHERE status = 'dropped'").fetchone()
            print(f"\n  archived rows {arch[0]:,}, archive files {arch[1] / 1e6:,.1f} MB "
                  f"({arch[1] / arch[0]:.1f} bytes/row gzip)")
            print(f"  archival throughput {args.rows / figures['archive']:,.0f} rows/s "
                  "(COPY + gzip + read-back verify + re-hash under lock + detach/drop)")
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept database {dbname} and files in {work}")


if __name__ == "__main__":
    main()
