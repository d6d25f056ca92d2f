"""Seeding throughput: rows/s of the COPY-based generator, by table, at a given scale.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_seed .venv/bin/python bench/bench_seed.py --orgs 400 --days 90

The target database is emptied first (--reset). ~400 organizations x 90 days gives ~10M usage_records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

from auralink.seed.generator import SeedConfig, seed_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=400)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--audio", action="store_true", help="also link speech files for recordings")
    args = parser.parse_args()
    cfg = SeedConfig(orgs=args.orgs, days=args.days, seed=args.seed, end_date=dt.date(2026, 11, 20), audio=args.audio)
    started = time.perf_counter()
    counts = seed_database(cfg, progress=True, reset=True)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(f"\nseeded {args.orgs} orgs x {args.days} days in {seconds:.1f} s")
    for table, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {table:24s} {n:>12,d}")
    print(f"usage_records: {counts.get('usage_records', 0):,} rows, "
          f"{counts.get('usage_records', 0) / seconds:,.0f} usage rows/s of wall time")
    print(f"all tables:    {total:,} rows, {total / seconds:,.0f} rows/s")
    print(f"peak RSS:      {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
