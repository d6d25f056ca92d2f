"""Benchmark: erasure and export of one data subject, at two database sizes in one run, and a night of 20
erasures. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_erasure.py                                   # 10M audit + 10M usage rows at the end
    .venv/bin/python bench/bench_erasure.py --audit-rows 1000000 --usage-rows 1000000   # a few minutes

The database is built at half the given sizes (audit events, usage records, and calls with transcripts,
AI usage and security events of background users in proportion), then subjects are measured, then every
background table is doubled (the same generator, a second half) and other subjects are measured: the
ratio of the two medians says whether erasure follows the subject's data or the database. Every subject
has the same footprint: membership, consents, a role, 500 audit events by them and 50 about them, 50 calls
with a colleague (recording, a transcript and a summary naming them) and a solo call, 5 colleagues' calls
that mention them, 200 usage records, 50 AI usage events, 2 security events with their IP, and (for the
measured ones) an export in each format made just before. Then 20 more subjects' erasures are processed
in one run of the nightly job (batch_size 20), as a night would.

It creates its own database on TEST_DATABASE_URL's server (default 127.0.0.1:5432, user postgres) and drops
it afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
WORK = Path(tempfile.mkdtemp(prefix="auralink-bench-erasure-"))
os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # bench-only key
os.environ.update(AURALINK_HOME=str(WORK), AURALINK_ARCHIVE_URL=str(WORK / "archives"),
                  AURALINK_EXPORT_URL=str(WORK / "exports"), AURALINK_REPORTS_URL=str(WORK / "reports"))

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START = "2026-08-01"   # 90 days of history, ending before the night
DAYS = 90
STEP = 1_000_000


def url_for(dbname: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + dbname


def say(text: str) -> None:
    print(text, flush=True)


def timed(label: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    secs = time.perf_counter() - t0
    say(f"  {label:58s} {secs:8.2f} s")
    return out, secs


def background(c: psycopg.Connection, half: int, audit_rows: int, usage_rows: int, users: int, orgs: int) -> None:
    """One half of the background: audit events, usage records, and calls with transcripts, AI usage and
    security events of the background users, in proportion (half 0 and half 1 never collide)."""
    span = DAYS * 86400
    p = {"users": users, "orgs": orgs, "span": span, "half": half}
    for lo in range(half * audit_rows, (half + 1) * audit_rows, STEP):
        hi = min((half + 1) * audit_rows, lo + STEP) - 1
        c.execute(
            "INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type, resource_id,"
            " ip_address, user_agent, request_metadata, response_metadata, occurred_at)"
            " SELECT md5('o' || ((g * 7919 %% %(users)s) %% %(orgs)s))::uuid, md5('u' || (g * 7919 %% %(users)s))::uuid,"
            "  'user' || (g * 7919 %% %(users)s) || '@bench.example',"
            "  (ARRAY['auth.login','recording.view','call.join','settings.update','export.create'])[1 + g %% 5],"
            "  'recording', md5(g::text), ('10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.1')::inet,"
            "  'Mozilla/5.0 (X11; Linux x86_64)', jsonb_build_object('path', '/api/v1/items/' || g, 'method', 'GET'),"
            "  '{\"status\": 200}', %(start)s::timestamptz + ((g %% %(per)s) * %(span)s / %(per)s) * interval '1 second'"
            " FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g",
            {**p, "lo": lo, "hi": hi, "start": START, "per": audit_rows})
        say(f"    audit_logs {hi + 1:,}")
    for lo in range(half * usage_rows, (half + 1) * usage_rows, STEP):
        hi = min((half + 1) * usage_rows, lo + STEP) - 1
        c.execute(
            "INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at, received_at,"
            " idempotency_key, source)"
            " SELECT md5('o' || ((g * 7907 %% %(users)s) %% %(orgs)s))::uuid,"
            "  CASE WHEN g %% 2 = 0 THEN md5('u' || (g * 7907 %% %(users)s))::uuid END,"
            "  CASE WHEN g %% 2 = 0 THEN 'call_minutes' ELSE 'storage_gb_hours' END, 1,"
            "  %(start)s::timestamptz + ((g %% %(per)s) * %(span)s / %(per)s) * interval '1 second',"
            "  %(start)s::timestamptz + ((g %% %(per)s) * %(span)s / %(per)s + 60) * interval '1 second',"
            "  'bg:' || g, 'product' FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g",
            {**p, "lo": lo, "hi": hi, "start": START, "per": usage_rows})
        say(f"    usage_records {hi + 1:,}")
    calls = max(1, audit_rows // 200)   # calls with a transcript and a summary: the free text erasure searches
    c.execute(
        "INSERT INTO calls (id, organization_id, initiated_by, started_at, ended_at, duration_seconds)"
        " SELECT md5('bc' || g)::uuid, md5('o' || ((g %% %(users)s) %% %(orgs)s))::uuid, md5('u' || (g %% %(users)s))::uuid,"
        "  %(start)s::timestamptz + (g %% %(per)s) * (%(span)s / %(per)s) * interval '1 second',"
        "  %(start)s::timestamptz + ((g %% %(per)s) * (%(span)s / %(per)s) + 600) * interval '1 second', 600"
        " FROM generate_series(%(lo)s::int, %(hi)s::int) g",
        {**p, "lo": half * calls, "hi": (half + 1) * calls - 1, "start": START, "per": calls})
    c.execute(
        "INSERT INTO call_participants (call_id, user_id, display_name, joined_at, ip_address)"
        " SELECT md5('bc' || g)::uuid, md5('u' || ((g + k) %% %(users)s))::uuid, 'Bench User ' || ((g + k) %% %(users)s),"
        "  %(start)s, '10.9.0.1' FROM generate_series(%(lo)s::int, %(hi)s::int) g, generate_series(0, 1) k",
        {**p, "lo": half * calls, "hi": (half + 1) * calls - 1, "start": START})
    c.execute(
        "INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status)"
        " SELECT md5('br' || g)::uuid, md5('bc' || g)::uuid, md5('o' || ((g %% %(users)s) %% %(orgs)s))::uuid,"
        "  'file:///nonexistent/' || g || '.wav', 'transcribed' FROM generate_series(%(lo)s::int, %(hi)s::int) g",
        {**p, "lo": half * calls, "hi": (half + 1) * calls - 1})
    c.execute(
        "INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text, segments)"
        " SELECT md5('br' || g)::uuid, md5('bc' || g)::uuid, md5('o' || ((g %% %(users)s) %% %(orgs)s))::uuid,"
        "  'whisper', 'tiny', 'Bench User ' || (g %% %(users)s) || ' and Bench User ' || ((g + 1) %% %(users)s)"
        "  || ' go through the roadmap, ticket ' || g || ' and the budget. ' || repeat('we agreed on the next steps ', 20),"
        "  jsonb_build_array(jsonb_build_object('speaker', 'Bench User ' || (g %% %(users)s), 'text', 'roadmap ' || g))"
        " FROM generate_series(%(lo)s::int, %(hi)s::int) g",
        {**p, "lo": half * calls, "hi": (half + 1) * calls - 1})
    c.execute(
        "INSERT INTO call_summaries (transcription_id, call_id, organization_id, summary, action_items, provider, model)"
        " SELECT t.id, t.call_id, t.organization_id, 'Roadmap and budget of ticket ' || t.id, '[]', 'tfidf', 'tfidf'"
        " FROM transcriptions t WHERE t.call_id IN (SELECT md5('bc' || g)::uuid FROM generate_series(%(lo)s::int, %(hi)s::int) g)",
        {**p, "lo": half * calls, "hi": (half + 1) * calls - 1})
    c.execute(
        "INSERT INTO ai_usage (organization_id, user_id, feature, provider, model, unit_type, units, occurred_at,"
        " metadata) SELECT md5('o' || ((g %% %(users)s) %% %(orgs)s))::uuid, md5('u' || (g %% %(users)s))::uuid,"
        " 'llm', 'openai', 'gpt-4o-mini', 'requests', 1, %(start)s::timestamptz + (g %% 7776000) * interval '1 second',"
        " jsonb_build_object('prompt_id', g) FROM generate_series(%(lo)s::int, %(hi)s::int) g",
        {**p, "lo": half * calls * 2, "hi": (half + 1) * calls * 2 - 1, "start": START})
    c.execute(
        "INSERT INTO security_events (organization_id, user_id, rule, severity, source_ip, description, evidence,"
        " dedup_key, first_seen_at, last_seen_at) SELECT md5('o' || ((g %% %(users)s) %% %(orgs)s))::uuid,"
        " md5('u' || (g %% %(users)s))::uuid, 'failed_login_burst', 'medium', '10.8.0.1',"
        " '12 failed logins for user' || (g %% %(users)s) || '@bench.example', jsonb_build_object('failures', 12),"
        " 'bg:' || g, %(start)s, %(start)s FROM generate_series(%(lo)s::int, %(hi)s::int) g",
        {**p, "lo": half * (calls // 10), "hi": (half + 1) * (calls // 10) - 1, "start": START})


SUBJECT_SQL = [
    # identity, membership, consents, role
    "INSERT INTO users (id, email, full_name, phone) VALUES (%(s)s, %(email)s::text, %(name)s::text, %(phone)s::text)",
    "INSERT INTO organization_members (organization_id, user_id, member_role) VALUES (%(org)s, %(s)s, 'admin')",
    ("INSERT INTO consents (user_id, organization_id, purpose, granted) SELECT %(s)s, %(org)s, p, true"
    " FROM unnest(ARRAY['recording', 'transcription', 'ai_processing']) p"),
    ("INSERT INTO user_role_assignments (user_id, organization_id, role_id) SELECT %(s)s, %(org)s, id FROM rbac_roles"
    " WHERE name = 'bench_admin'"),
    "INSERT INTO casbin_rule (ptype, v0, v1) VALUES ('g', %(s_text)s::text, 'bench_admin')",
    # 500 audit events by them (their IP), 50 about them by a colleague
    ("INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type, ip_address, user_agent,"
    " request_metadata, occurred_at) SELECT %(org)s, %(s)s, %(email)s::text, 'recording.view', 'recording', %(ip)s::inet,"
    " 'Mozilla/5.0 (Macintosh)', jsonb_build_object('path', '/api/v1/calls/' || g), %(start)s::timestamptz"
    " + g * interval '4 hours' FROM generate_series(1, 500) g"),
    ("INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type, resource_id,"
    " ip_address, new_values, occurred_at) SELECT %(org)s, %(colleague)s, %(colleague_email)s::text, 'member.updated',"
    " 'user', %(s_text)s::text, '10.7.0.1', jsonb_build_object('full_name', %(name)s::text), %(start)s::timestamptz"
    " + g * interval '1 day' FROM generate_series(1, 50) g"),
    # 50 calls with a colleague, a solo call; a recording, a transcript and a summary each
    ("INSERT INTO calls (id, organization_id, initiated_by, started_at, ended_at, duration_seconds)"
    " SELECT md5(%(s_text)s::text || 'c' || g)::uuid, %(org)s, %(s)s, %(start)s::timestamptz + g * interval '1 day',"
    " %(start)s::timestamptz + g * interval '1 day' + interval '10 minutes', 600 FROM generate_series(0, 50) g"),
    ("INSERT INTO call_participants (call_id, user_id, display_name, joined_at, ip_address) SELECT"
    " md5(%(s_text)s::text || 'c' || g)::uuid, %(s)s, %(name)s::text, %(start)s::timestamptz + g * interval '1 day', %(ip)s::inet"
    " FROM generate_series(0, 50) g"),
    ("INSERT INTO call_participants (call_id, user_id, display_name, joined_at, ip_address) SELECT"
    " md5(%(s_text)s::text || 'c' || g)::uuid, %(colleague)s, %(colleague_name)s::text, %(start)s::timestamptz + g * interval '1 day',"
    " '10.7.0.1' FROM generate_series(1, 50) g"),
    ("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status) SELECT"
    " md5(%(s_text)s::text || 'r' || g)::uuid, md5(%(s_text)s::text || 'c' || g)::uuid, %(org)s,"
    " 'file:///nonexistent/' || md5(%(s_text)s::text || 'r' || g) || '.wav', 'transcribed' FROM generate_series(0, 50) g"),
    ("INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text, segments) SELECT"
    " md5(%(s_text)s::text || 'r' || g)::uuid, md5(%(s_text)s::text || 'c' || g)::uuid, %(org)s, 'whisper', 'tiny',"
    " 'Hi, this is ' || %(name)s::text || ', reach me on ' || %(phone)s::text || ' or ' || %(email)s::text || '. '"
    " || repeat('we talk about the roadmap and the budget ', 25),"
    " jsonb_build_array(jsonb_build_object('speaker', %(name)s::text, 'user_id', %(s_text)s::text, 'text', 'hello'))"
    " FROM generate_series(0, 50) g"),
    ("INSERT INTO call_summaries (transcription_id, call_id, organization_id, summary, action_items, provider, model)"
    " SELECT t.id, t.call_id, t.organization_id, %(name)s::text || ' will send the contract.',"
    " jsonb_build_array(jsonb_build_object('owner', %(email)s::text)), 'tfidf', 'tfidf' FROM transcriptions t"
    " WHERE t.call_id IN (SELECT md5(%(s_text)s::text || 'c' || g)::uuid FROM generate_series(0, 50) g)"),
    # 5 colleagues' calls that mention them
    ("INSERT INTO calls (id, organization_id, initiated_by, started_at) SELECT md5(%(s_text)s::text || 'm' || g)::uuid,"
    " %(org)s, %(colleague)s, %(start)s::timestamptz + g * interval '3 days' FROM generate_series(1, 5) g"),
    ("INSERT INTO call_recordings (id, call_id, organization_id, storage_uri, status) SELECT"
    " md5(%(s_text)s::text || 'mr' || g)::uuid, md5(%(s_text)s::text || 'm' || g)::uuid, %(org)s, 'file:///nonexistent/m.wav',"
    " 'transcribed' FROM generate_series(1, 5) g"),
    ("INSERT INTO transcriptions (recording_id, call_id, organization_id, engine, model, text) SELECT"
    " md5(%(s_text)s::text || 'mr' || g)::uuid, md5(%(s_text)s::text || 'm' || g)::uuid, %(org)s, 'whisper', 'tiny',"
    " 'Did ' || %(name)s::text || ' sign? Ask ' || %(email)s::text || '.' FROM generate_series(1, 5) g"),
    # usage, AI usage, security events with their IP
    ("INSERT INTO usage_records (organization_id, user_id, metric, quantity, recorded_at, idempotency_key) SELECT"
    " %(org)s, %(s)s, 'call_minutes', 1, %(start)s::timestamptz + g * interval '10 hours',"
    " 'subj:' || %(s_text)s::text || ':' || g FROM generate_series(1, 200) g"),
    ("INSERT INTO ai_usage (organization_id, user_id, feature, provider, model, unit_type, units, occurred_at, metadata)"
    " SELECT %(org)s, %(s)s, 'llm', 'openai', 'gpt-4o-mini', 'requests', 1, %(start)s::timestamptz + g * interval"
    " '1 day', jsonb_build_object('requested_by', %(email)s::text) FROM generate_series(1, 50) g"),
    ("INSERT INTO security_events (organization_id, user_id, rule, severity, source_ip, description, evidence, dedup_key,"
    " first_seen_at, last_seen_at) VALUES (%(org)s, %(s)s, 'admin_new_location', 'high', %(ip)s::inet,"
    " 'admin ' || %(email)s::text || ' signed in from a new country VN (' || %(ip_text)s::text || ')',"
    " jsonb_build_object('ip', %(ip_text)s::text), 'anl:' || %(s_text)s::text, %(start)s, %(start)s),"
    " (%(org)s, %(s)s, 'failed_login_burst', 'medium', %(ip)s::inet, '9 failed logins for ' || %(email)s::text,"
    " jsonb_build_object('failures', 9), 'flb:' || %(s_text)s::text, %(start)s, %(start)s)"),
]


def subject(k: int, users: int, orgs: int) -> dict:
    import uuid

    s = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-subject-{k}")
    colleague = k * 37 % users
    return {"s": s, "s_text": str(s), "email": f"subject{k}@bench.example", "name": f"Bench Subject {k}",
            "phone": f"+44 20 7000 {k:04d}", "org": uuid.UUID(_md5(f"o{k % orgs}")),
            "colleague": uuid.UUID(_md5(f"u{colleague}")), "colleague_email": f"user{colleague}@bench.example",
            "colleague_name": f"Bench User {colleague}", "ip": f"203.0.113.{k % 250 + 1}",
            "ip_text": f"203.0.113.{k % 250 + 1}", "start": START}


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def setup(url: str, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("INSERT INTO organizations (id, name, slug, plan) SELECT md5('o' || n)::uuid, 'Bench org ' || n,"
                  " 'bench-' || n, 'enterprise' FROM generate_series(0, %s - 1) n", (args.orgs,))
        c.execute("INSERT INTO users (id, email, full_name, phone) SELECT md5('u' || n)::uuid,"
                  " 'user' || n || '@bench.example', 'Bench User ' || n, '+1-555-' || lpad(n::text, 7, '0')"
                  " FROM generate_series(0, %s - 1) n", (args.users,))
        c.execute("INSERT INTO organization_members (organization_id, user_id) SELECT md5('o' || (n %% %s))::uuid,"
                  " md5('u' || n)::uuid FROM generate_series(0, %s - 1) n", (args.orgs, args.users))
        c.execute("INSERT INTO rbac_roles (name, permissions) VALUES ('bench_admin', '[\"users:manage\"]')")
        c.execute("SELECT ensure_monthly_partitions(t::regclass, '2026-07-01', '2026-12-01') "
                  "FROM unnest(ARRAY['audit_logs', 'usage_records']) t")


def add_subjects(url: str, ks: range, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        for k in ks:
            p = subject(k, args.users, args.orgs)
            with c.transaction():
                for sql in SUBJECT_SQL:
                    c.execute(sql, p)


def measure(url: str, ks: list[int], args: argparse.Namespace, label: str) -> dict[str, list[float]]:
    from auralink.compliance import requests
    from auralink.jobs import run_job

    out: dict[str, list[float]] = {"json": [], "csv": [], "pdf": [], "erasure": []}
    with psycopg.connect(url, autocommit=True) as c:
        for k in ks:
            p = subject(k, args.users, args.orgs)
            for fmt in ("json", "csv", "pdf"):
                rid = requests.submit_request(c, organization_id=p["org"], request_type="export", export_format=fmt,
                                              subject_email=p["email"])
                res, secs = timed(f"{label}: export subject {k} ({fmt})", run_job, "process_compliance_requests",
                                  {"request_id": str(rid)}, url=url)
                assert res["completed"] == 1, res
                out[fmt].append(secs)
            rid = requests.submit_request(c, organization_id=p["org"], request_type="deletion", subject_email=p["email"])
            res, secs = timed(f"{label}: erase subject {k}", run_job, "process_compliance_requests",
                              {"request_id": str(rid)}, url=url)
            assert res["completed"] == 1, res
            out["erasure"].append(secs)
            import json

            loc = c.execute("SELECT report_location FROM erasure_ledger WHERE request_id = %s", (rid,)).fetchone()[0]
            proof = json.loads(Path(loc).read_text())["proof_of_erasure"]
            say(f"      deleted {sum(proof['deleted'].values())}, pseudonymized {sum(proof['pseudonymized'].values())}, "
                f"mentions {sum(proof['mentions'].values())}, files deleted {proof['files_deleted']}, "
                f"models {len(proof['models'])}; steps: "
                + ", ".join(f"{k} {v:.2f}" for k, v in proof.get("timings", {}).items()))
    return out


def sizes(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        audit, usage, tr = c.execute("SELECT (SELECT count(*) FROM audit_logs), (SELECT count(*) FROM usage_records),"
                                     " (SELECT count(*) FROM transcriptions)").fetchone()
        size = c.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return f"{audit:,} audit rows, {usage:,} usage rows, {tr:,} transcripts, database {size}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audit-rows", type=int, default=10_000_000, help="audit events at the larger size")
    ap.add_argument("--usage-rows", type=int, default=10_000_000, help="usage records at the larger size")
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--orgs", type=int, default=50)
    ap.add_argument("--measured", type=int, default=5, help="subjects measured at each size")
    ap.add_argument("--night", type=int, default=20, help="erasures processed in one run of the nightly job")
    ap.add_argument("--dbt", action=argparse.BooleanOptionalAction, default=True,
                    help="build the dbt project at the first size (erasure then rewrites its tables)")
    ap.add_argument("--keep", action="store_true", help="keep the database and files")
    args = ap.parse_args()

    dbname = f"auralink_bench_erasure_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    url = url_for(dbname)
    os.environ["DATABASE_URL"] = url
    half_audit, half_usage = args.audit_rows // 2, args.usage_rows // 2
    try:
        from auralink.db.migrate import migrate

        say(f"erasure benchmark: {half_audit:,} then {args.audit_rows:,} audit rows, {half_usage:,} then "
            f"{args.usage_rows:,} usage rows; {args.users:,} background users, {args.orgs} orgs")
        migrate(url)
        setup(url, args)
        n_subjects = 2 * args.measured + args.night
        timed("generate the first half (SQL generate_series)", lambda: _generate(url, 0, half_audit, half_usage, args))
        timed(f"add {n_subjects} subjects", add_subjects, url, range(n_subjects), args)
        _analyze(url)
        if args.dbt:
            from auralink.analytics.dbt_runner import build
            from auralink.jobs.interval import DataInterval

            run, _ = timed("dbt build (the night after the history)", build, url=url,
                           interval=DataInterval.for_day(dt.date(2026, 10, 30)), raise_on_failure=False)
            if not run.success:   # a failing data test does not stop the models this measures
                say(f"    dbt: {len(run.failures)} node(s) failed: {', '.join(f['unique_id'] for f in run.failures[:3])}")
        say(f"  size 1: {sizes(url)}")
        first = measure(url, list(range(args.measured)), args, "size 1")
        timed("generate the second half: every background table doubled",
              lambda: _generate(url, 1, half_audit, half_usage, args))
        _analyze(url)
        say(f"  size 2: {sizes(url)}")
        second = measure(url, list(range(args.measured, 2 * args.measured)), args, "size 2")
        night = list(range(2 * args.measured, n_subjects))
        total = _night(url, night, args)
        say("\nresults (median of the measured subjects)")
        for key, target in (("json", 1.0), ("csv", 1.0), ("pdf", 3.0), ("erasure", 5.0)):
            a, b = statistics.median(first[key]), statistics.median(second[key])
            say(f"  {key:8s} size 1 {a:6.2f} s   size 2 {b:6.2f} s   ratio {b / a:5.2f}   (target < {target:g} s)")
        ratio = statistics.median(second["erasure"]) / statistics.median(first["erasure"])
        say(f"  erasure growth when the database doubles: {ratio:.2f}x (target <= 1.3x)")
        say(f"  {len(night)} erasures in one nightly run: {total:.1f} s (target < 60 s)")
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            import shutil

            shutil.rmtree(WORK, ignore_errors=True)
        else:
            say(f"kept database {dbname} and files in {WORK}")


def _generate(url: str, half: int, audit_rows: int, usage_rows: int, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        background(c, half, audit_rows, usage_rows, args.users, args.orgs)


def _analyze(url: str) -> None:
    """A database in its steady state, as production runs: vacuumed (GIN pending lists merged, visibility
    map set) and analyzed, so no autovacuum of millions of fresh rows runs beside the measurements."""
    with psycopg.connect(url, autocommit=True) as c:
        timed("VACUUM ANALYZE", c.execute, "VACUUM ANALYZE")


def _night(url: str, ks: list[int], args: argparse.Namespace) -> float:
    from auralink.compliance import requests
    from auralink.jobs import run_job

    with psycopg.connect(url, autocommit=True) as c:
        for k in ks:
            p = subject(k, args.users, args.orgs)
            requests.submit_request(c, organization_id=p["org"], request_type="deletion", subject_email=p["email"])
    res, secs = timed(f"{len(ks)} erasures, one run of process_compliance_requests", run_job,
                      "process_compliance_requests", {"batch_size": str(len(ks))}, url=url)
    assert res["completed"] == len(ks), res
    return secs


if __name__ == "__main__":
    main()
