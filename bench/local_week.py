"""One organization's week in daily_usage_summary, before (UTC days, cut from the raw usage_records and
calls as the marts did) and after (the organization's local days, as the marts are now), side by side.

    .venv/bin/python -m bench.local_week --url postgresql://.../db [--zone Asia/Tokyo] [--days 7] [--last D]

The database must be seeded and built (`auralink seed ...`, then `auralink jobs run dbt_build --date D`);
the organization is the first one in --zone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

import psycopg

BEFORE = """
    SELECT d::date,
           (SELECT coalesce(sum(quantity), 0) FROM usage_records u WHERE u.organization_id = %(org)s
              AND u.metric = 'call_minutes' AND u.recorded_at >= d AND u.recorded_at < d + interval '1 day'),
           (SELECT count(*) FROM calls c WHERE c.organization_id = %(org)s
              AND c.started_at >= d AND c.started_at < d + interval '1 day')
    FROM generate_series(%(first)s::date::timestamp AT TIME ZONE 'UTC', %(last)s::date::timestamp AT TIME ZONE 'UTC',
                         interval '1 day') AS d
    ORDER BY 1"""


def week(conn: psycopg.Connection, zone: str, days: int, last: dt.date | None = None) -> tuple[str, list[tuple]]:
    org = conn.execute("SELECT id, name FROM organizations WHERE timezone = %s ORDER BY created_at, id LIMIT 1",
                       (zone,)).fetchone()
    if org is None:
        raise SystemExit(f"no organization in {zone}")
    last = last or conn.execute("SELECT max(usage_date) FROM analytics.daily_usage_summary WHERE organization_id = %s",
                                (org[0],)).fetchone()[0]
    if last is None:
        raise SystemExit("analytics.daily_usage_summary has no row for it: run the dbt build first")
    first_day = last - dt.timedelta(days=days - 1)
    after = {d: (m, c) for d, m, c in conn.execute(
        "SELECT usage_date, call_minutes, calls FROM analytics.daily_usage_summary WHERE organization_id = %s "
        "AND usage_date BETWEEN %s AND %s", (org[0], first_day, last)).fetchall()}
    rows = []
    for day, minutes, calls in conn.execute(BEFORE, {"org": org[0], "first": first_day, "last": last}).fetchall():
        local_minutes, local_calls = after.get(day, (0, 0))
        rows.append((day, minutes, calls, local_minutes, local_calls))
    return f"{org[1]} ({zone})", rows


def render(title: str, rows: list[tuple]) -> str:
    out = [title,
           "| day | UTC days: call minutes | calls | local days: call minutes | calls |",
           "|---|---:|---:|---:|---:|"]
    for day, m_utc, c_utc, m_local, c_local in rows:
        out.append(f"| {day:%a %Y-%m-%d} | {m_utc:,.0f} | {c_utc} | {m_local:,.0f} | {c_local} |")
    total = [sum(r[i] for r in rows) for i in range(1, 5)]
    out.append(f"| total | {total[0]:,.0f} | {total[1]} | {total[2]:,.0f} | {total[3]} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--zone", default="Asia/Tokyo")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--last", type=dt.date.fromisoformat, help="the week's last day (default: the newest built)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url (or DATABASE_URL) is required")
    with psycopg.connect(args.url) as conn:
        print(render(*week(conn, args.zone, args.days, args.last)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
