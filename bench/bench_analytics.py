"""Benchmark: the nightly analytics run with 1 day of new data on top of 1 day vs N days of history, and
the dashboard query (one organization's last 30 days) on the views.

For each history length H the script seeds H+1 days into a scratch database, builds everything for the
night before the last day (a cold dbt build + AI costs: all history up to it), and times the night of the
last day (`dbt build` with the nightly selection + the ai_usage_costs job, for that day): what the 02:00
run does.

    .venv/bin/python bench/bench_analytics.py --orgs 300 --history 1 90     # ~10M usage rows at 90 days
    .venv/bin/python bench/bench_analytics.py --orgs 30 --history 1 90      # quick, ~1M rows
    .venv/bin/python bench/bench_analytics.py --orgs 450 --history 1 90 --reuse   # again on a --keep run's seeds

The server is TEST_DATABASE_URL's (default postgresql://postgres@127.0.0.1:5432/postgres); scratch
databases are dropped afterwards unless --keep. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # bench-only key
os.environ.setdefault("AURALINK_HOME", "/tmp/auralink-bench-home")

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
END_DATE = dt.date(2026, 11, 20)

DASHBOARD_QUERIES = {
    "daily_usage_summary": """SELECT * FROM analytics.daily_usage_summary
                              WHERE organization_id = %(org)s AND usage_date > %(end)s::date - 30
                              ORDER BY usage_date""",
    "organization_analytics_summary": """SELECT * FROM analytics.organization_analytics_summary
                              WHERE organization_id = %(org)s AND period_type = 'day'
                                AND period_start > %(end)s::date - 30 ORDER BY period_start""",
}


def url_for(dbname: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{dbname}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def nightly(url: str, day: dt.date = END_DATE) -> dict:
    from auralink.analytics.dbt_runner import build
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval

    night = DataInterval.for_day(day)
    started = time.monotonic()
    run = build(url=url, interval=night)
    dbt_seconds = time.monotonic() - started
    ai = run_job("ai_usage_costs", url=url, interval=night)
    total = time.monotonic() - started
    slowest = sorted(run.nodes, key=lambda n: -n["seconds"])[:5]
    return {"total_s": total, "dbt_s": dbt_seconds, "ai_costs_s": ai["seconds"],
            "slowest": [(n["unique_id"].split(".")[-1], n["seconds"]) for n in slowest]}


def dashboard(url: str, repeat: int) -> dict[str, dict[str, float]]:
    with psycopg.connect(url, autocommit=True) as conn:
        orgs = [r[0] for r in conn.execute("SELECT id FROM organizations").fetchall()]
        rng = random.Random(7)
        out = {}
        for name, sql in DASHBOARD_QUERIES.items():
            for _ in range(10):  # warm the cache and the plan
                conn.execute(sql, {"org": rng.choice(orgs), "end": END_DATE}).fetchall()
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                conn.execute(sql, {"org": rng.choice(orgs), "end": END_DATE}).fetchall()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[name] = {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}
    return out


def scenario(orgs: int, history: int, seed: int, repeat: int, keep: bool, reuse: bool = False) -> dict:
    from auralink.analytics.dbt_runner import build
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval
    from auralink.seed.generator import SeedConfig, seed_database

    name = f"auralink_bench_{orgs}o_{history}d"
    url = url_for(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        reusing = reuse and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if not reusing:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        t = time.monotonic()
        if reusing:  # the seed is deterministic and the build below is a full refresh: same figures
            with psycopg.connect(url) as conn:
                counts = {"usage_records": conn.execute("SELECT count(*) FROM usage_records").fetchone()[0]}
            log(f"H={history}: reusing the kept seed {name} (usage_records={counts['usage_records']:,})")
        else:
            counts = seed_database(SeedConfig(orgs=orgs, days=history + 1, seed=seed, end_date=END_DATE, audio=False),
                                   url=url, progress=False)
            log(f"H={history}: seeded {history + 1} days in {time.monotonic() - t:.0f}s: "
                f"usage_records={counts.get('usage_records', 0):,} calls={counts.get('calls', 0):,} "
                f"call_quality_samples={counts.get('call_quality_samples', 0):,} ai_usage={counts.get('ai_usage', 0):,}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
            new_day = conn.execute("SELECT count(*) FROM usage_records WHERE recorded_at >= %s",
                                   (dt.datetime.combine(END_DATE, dt.time(), tzinfo=dt.UTC),)).fetchone()[0]
        t = time.monotonic()
        previous = DataInterval.for_day(END_DATE - dt.timedelta(days=1))
        build(url=url, interval=previous, full_refresh=True)
        run_job("ai_usage_costs", url=url, interval=previous)
        initial = time.monotonic() - t
        log(f"H={history}: initial (cold) build of {history} day(s) in {initial:.1f}s; the new day holds "
            f"usage_records={new_day:,}")
        result = nightly(url)
        log(f"H={history}: nightly run {result['total_s']:.1f}s (dbt {result['dbt_s']:.1f}s, "
            f"ai costs {result['ai_costs_s']:.2f}s); slowest nodes {result['slowest']}")
        rerun = nightly(url)
        log(f"H={history}: same night re-run {rerun['total_s']:.1f}s")
        dash = dashboard(url, repeat)
        for view, f in dash.items():
            log(f"H={history}: dashboard {view}: p50 {f['p50_ms']:.2f} ms, p95 {f['p95_ms']:.2f} ms")
        return {"history": history, "usage_records": counts.get("usage_records", 0), "initial_s": initial,
                "nightly": result, "rerun": rerun, "dashboard": dash}
    finally:
        if not keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--history", type=int, nargs="+", default=[1, 90], help="days of history before the new day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=200, help="dashboard queries per view")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a scratch database an earlier --keep run left (skips seeding; implies --keep)")
    args = parser.parse_args()

    results = [scenario(args.orgs, h, args.seed, args.repeat, args.keep or args.reuse, args.reuse)
               for h in args.history]
    print("\n== analytics benchmark ==")
    print(f"orgs={args.orgs} end={END_DATE} command: {' '.join(sys.argv)}")
    print(f"{'history':>8} {'usage rows':>12} {'full build s':>13} {'nightly s':>10} {'dbt s':>7} "
          f"{'re-run s':>9} {'dash p50 ms':>12} {'dash p95 ms':>12}")
    for r in results:
        d = r["dashboard"]["daily_usage_summary"]
        print(f"{r['history']:>8} {r['usage_records']:>12,} {r['initial_s']:>13.1f} {r['nightly']['total_s']:>10.1f} "
              f"{r['nightly']['dbt_s']:>7.1f} {r['rerun']['total_s']:>9.1f} {d['p50_ms']:>12.2f} {d['p95_ms']:>12.2f}")
    if len(results) >= 2:
        base, most = results[0]["nightly"]["total_s"], results[-1]["nightly"]["total_s"]
        print(f"nightly cost ratio {results[-1]['history']}d / {results[0]['history']}d history: {most / base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
