"""Benchmark: the whole nightly run at scale — wall time of every job, the total, and peak memory.

The nightly run is what the 02:00 UTC run executes on one machine (`auralink pipeline run` for the night,
the recordings' queue jobs left out: they are the every-4-hours DAG's; the nightly DAG and Argo's nightly
run the same jobs as tasks and steps): partitions, quality gates, dbt, AI costs, invoices, insights,
reports, security events, compliance, retention and audit-log archival. Beside the night, as in
production, a writer inserts audit events and usage records 5 times a second (their worst latency is
reported) and a reader runs 10-second queries on audit_logs back to back.

    .venv/bin/python bench/bench_nightly.py                                  # 1,000 orgs, 10M usage, 10M audit
    .venv/bin/python bench/bench_nightly.py --orgs 50 --usage-rows 300000 --audit-rows 300000   # ~2 min
    .venv/bin/python bench/bench_nightly.py --reuse-seed     # seed once, keep it as a template, clone it next time

Data: the seed generator (1,000 organizations over enough days for ~10M usage_records, audit events at
the seed's rate) ending today (UTC), then audit_logs topped up in SQL to the target with rows 91-180 days
old, so the audit-log archival has a real backlog. Then

  night 1 (cold): the night of yesterday, the first nightly run on this history (dbt builds every model
                  up to yesterday from nothing, archival takes the whole 90-day backlog);
  night 2 (steady): the night of today (its data is all there): what every later night costs.

Memory is sampled every 0.5 s: this process's RSS (dbt runs in-process, as in an Airflow task) and the
proportional set size (PSS) of all PostgreSQL server processes, reported per job and overall.
It creates its own database on TEST_DATABASE_URL's server (default 127.0.0.1:5432, user postgres) and
drops it afterwards unless --keep. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "bench"))
WORK = Path(tempfile.mkdtemp(prefix="auralink-bench-nightly-"))
os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # bench-only key
os.environ.setdefault("AURALINK_HOME", str(WORK))
os.environ.setdefault("AURALINK_ARCHIVE_URL", str(WORK / "archives"))
os.environ.setdefault("AURALINK_EXPORT_URL", str(WORK / "exports"))

import psutil
import psycopg
from bench_analytics import log, url_for
from beside import Beside

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The every-4-hours DAG's queue jobs, not the night's work (the seed has no audio to transcribe).
RECORDINGS_JOBS = ["transcribe_recordings", "summarize_transcripts", "analyze_call_quality"]
USAGE_ROWS_PER_ORG_DAY = 254  # measured: 9.85M usage_records from 430 orgs x 90 days (bench_seed.py)
MIB = 1024 * 1024


class MemorySampler(threading.Thread):
    """(time, this process's RSS plus its children's own memory (USS), PostgreSQL servers' PSS) every
    ``interval`` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []
        self._halt = threading.Event()
        self._me = psutil.Process()

    def _postgres_pss(self) -> int:
        total = 0
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] in ("postgres", "postmaster"):
                try:
                    total += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        return total

    def _own_rss(self) -> int:
        # A forked child (the report workers) shares its parent's pages: its RSS counts them again, its
        # USS is what it adds.
        rss = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            try:
                rss += child.memory_full_info().uss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return rss

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self._own_rss(), self._postgres_pss()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peaks(self, start: float, end: float) -> tuple[int, int]:
        window = [s for s in self.samples if start <= s[0] <= end] or \
            [min(self.samples, key=lambda s: abs(s[0] - end))]
        return max(s[1] for s in window), max(s[2] for s in window)


def top_up_audit_logs(url: str, target: int, last_day: dt.date) -> int:
    """Add audit events 91-180 days before ``last_day`` until audit_logs holds ``target`` rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM audit_logs").fetchone()[0]
        missing = target - have
        if missing <= 0:
            return 0
        first, last = last_day - dt.timedelta(days=180), last_day - dt.timedelta(days=91)
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT ensure_monthly_partitions('audit_logs', %s, %s)", (first, last + dt.timedelta(days=31)))
        # Real members act on their own organization; the action mix is the everyday one.
        conn.execute("""CREATE TEMP TABLE bench_actors AS
                        SELECT row_number() OVER (ORDER BY m.user_id, m.organization_id) - 1 AS n,
                               m.organization_id, m.user_id, u.email
                        FROM organization_members m JOIN users u ON u.id = m.user_id""")
        actors = conn.execute("SELECT count(*) FROM bench_actors").fetchone()[0]
        span = (last - first).days * 86400
        step = 1_000_000
        for lo in range(0, missing, step):
            hi = min(missing, lo + step) - 1
            conn.execute(
                """INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type,
                                           resource_id, ip_address, user_agent, country, request_metadata, occurred_at)
                   SELECT a.organization_id, a.user_id, a.email,
                          (ARRAY['auth.login','recording.view','call.join','settings.update','call.start'])[1 + g %% 5],
                          'call', md5(g::text), ('10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.7')::inet,
                          'AuraLink/5.2 (Macintosh)', 'US', jsonb_build_object('path', '/api/v1/calls/' || g),
                          %(first)s::timestamptz + ((g::bigint * %(span)s) / %(rows)s) * interval '1 second'
                   FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
                   JOIN bench_actors a ON a.n = g %% %(actors)s""",
                {"first": first, "span": span, "rows": missing, "lo": lo, "hi": hi, "actors": actors})
        conn.execute("ANALYZE audit_logs")
        return missing


def run_past_failures(results: list[dict], day: dt.date, url: str) -> list[dict]:
    """Run, one after the other, the jobs the night skipped because something upstream failed, so a night
    whose gate fails on the seed still times all its work; each is marked in the table (``*``)."""
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval

    out = []
    for r in results:
        if r.get("status") != "upstream_failed":
            out.append(r)
            continue
        try:
            stats = run_job(r["job"], interval=DataInterval.for_day(day), triggered_by="bench", url=url)
            out.append({"job": r["job"], **stats, "past_failure": True})
        except Exception as exc:  # noqa: BLE001 - reported in the table like any failed job
            out.append({"job": r["job"], "status": "failed", "error": str(exc), "past_failure": True})
    return out


def night(url: str, sampler: MemorySampler, label: str, day: dt.date, reader_seconds: float,
          past_failures: bool = False) -> dict:
    from auralink.jobs.interval import DataInterval
    from auralink.pipeline import run_pipeline

    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM job_runs").fetchone()[0]
    started = time.time()
    with Beside(url, reader_seconds) as beside:
        results = run_pipeline(interval=DataInterval.for_day(day), triggered_by="bench", url=url,
                               exclude=RECORDINGS_JOBS)
        if past_failures:
            results = run_past_failures(results, day, url)
    finished = time.time()
    # Each job's own run row (a failed job's result carries no run id): its window for time and memory.
    with psycopg.connect(url, autocommit=True) as conn:
        windows = {name: (start.timestamp(), end.timestamp() if end else finished) for name, start, end in conn.execute(
            "SELECT job_name, started_at, finished_at FROM job_runs WHERE id > %s AND triggered_by = 'bench'",
            (before,))}
    jobs = []
    for r in results:
        start, end = windows.get(r["job"], (started, finished))
        rss, pss = sampler.peaks(start, end)
        jobs.append({"job": r["job"], "status": r.get("status", "?"), "past_failure": r.get("past_failure", False),
                     "seconds": end - start, "rss": rss, "pg_pss": pss, "error": r.get("error")})
    rss, pss = sampler.peaks(started, finished)
    total = finished - started
    log(f"{label} ({day}): {total:.1f}s, {sum(j['status'] == 'failed' for j in jobs)} job(s) failed; "
        f"{beside.summary()}")
    lat = sorted(beside.latencies)
    return {"label": label, "total": total, "jobs": jobs, "rss": rss, "pg_pss": pss,
            "worst_insert_s": lat[-1] if lat else None, "beside": beside.summary()}


def table_counts(url: str, tables: list[str]) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def report(nights: list[dict], counts: dict[str, int], args: argparse.Namespace, seed_s: float) -> None:
    print("\n== nightly benchmark ==")
    print(f"command: {' '.join(sys.argv)}")
    print(f"data: {args.orgs:,} orgs, {args.days} days; " + ", ".join(f"{t}={n:,}" for t, n in counts.items()))
    print(f"seeding (or cloning) took {seed_s:.0f}s; machine: {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB")
    header = f"{'job':34}" + "".join(
        f" {n['label'] + ' s':>12} {'RSS MiB':>8} {'PG MiB':>7}" for n in nights)
    print(header)
    print("-" * len(header))
    for i, job in enumerate(nights[0]["jobs"]):
        line = f"{job['job']:34}"
        for n in nights:
            j = n["jobs"][i]
            flag = "!" if j["status"] == "failed" else ("*" if j.get("past_failure") else " ")
            line += f" {j['seconds']:>11.1f}{flag} {j['rss'] / MIB:>8.0f} {j['pg_pss'] / MIB:>7.0f}"
        print(line)
    print("-" * len(header))
    line = f"{'total (wall) / peak':34}"
    for n in nights:
        line += f" {n['total']:>12.1f} {n['rss'] / MIB:>8.0f} {n['pg_pss'] / MIB:>7.0f}"
    print(line)
    print(f"peak RSS of this process (getrusage): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for n in nights:
        print(f"{n['label']}: {n['beside']}")
    for n in nights:
        for j in n["jobs"]:
            if j["status"] == "failed":
                print(f"{n['label']}: {j['job']} failed: {j['error']}")
    if any(j.get("past_failure") for n in nights for j in n["jobs"]):
        print("* run by the bench after the night, past the failed job upstream of it (--past-failures); "
              "! failed")
    for n in nights:
        slowest = sorted(n["jobs"], key=lambda j: -j["seconds"])[:3]
        share = ", ".join(f"{j['job']} {100 * j['seconds'] / n['total']:.0f}%" for j in slowest)
        print(f"{n['label']}: where the time goes: {share}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--usage-rows", type=int, default=10_000_000)
    parser.add_argument("--audit-rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=None, help="days of history (default: enough for --usage-rows)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reader-seconds", type=float, default=10.0, help="the reader's query length (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse-seed", action="store_true",
                        help="keep the seeded data as a template database and clone it on later runs with the "
                             "same parameters (seeding is most of the time at full scale); new migrations are "
                             "applied to the clone")
    parser.add_argument("--seed-only", action="store_true",
                        help="with --reuse-seed: only make the template database (seed ahead of the nights)")
    parser.add_argument("--past-failures", action="store_true",
                        help="after each night, run the jobs it skipped behind a failed job (marked *), so the "
                             "whole night's work is timed even when a gate fails on the seed")
    args = parser.parse_args()
    if args.seed_only and not args.reuse_seed:
        parser.error("--seed-only needs --reuse-seed (the template is what it keeps)")
    args.days = args.days or max(2, math.ceil(args.usage_rows / (args.orgs * USAGE_ROWS_PER_ORG_DAY)))

    from auralink.db.migrate import migrate
    from auralink.seed.generator import SeedConfig, seed_database

    last_day = dt.datetime.now(dt.UTC).date()  # data through today: night 2 is today's night
    name = f"auralink_bench_nightly_{os.getpid()}"
    template = f"auralink_bench_nightly_seed_{args.orgs}o_{args.days}d_{args.audit_rows}a_s{args.seed}_{last_day:%Y%m%d}"
    url = url_for(name)
    os.environ["DATABASE_URL"] = url
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        cached = args.reuse_seed and conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone() is not None
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if cached else ""))
    sampler = MemorySampler()
    try:
        t = time.monotonic()
        if cached:
            migrate(url)
            log(f"cloned the seeded data from {template}")
        else:
            seed_database(SeedConfig(orgs=args.orgs, days=args.days, seed=args.seed, end_date=last_day,
                                     audio=False), url=url, progress=False)
            added = top_up_audit_logs(url, args.audit_rows, last_day)
            log(f"seeded ({added:,} older audit rows added)")
            if args.reuse_seed:
                with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
        seed_s = time.monotonic() - t
        counts = table_counts(url, ["organizations", "users", "calls", "call_quality_samples", "usage_records",
                                    "ai_usage", "audit_logs"])
        log(f"data ready in {seed_s:.0f}s: {counts}")
        if args.seed_only:
            return 0
        sampler.start()
        nights = [night(url, sampler, "night 1", last_day - dt.timedelta(days=1), args.reader_seconds,
                        args.past_failures),
                  night(url, sampler, "night 2", last_day, args.reader_seconds, args.past_failures)]
        sampler.stop()
        report(nights, counts, args, seed_s)
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
