"""``auralink insights``: refresh and list cost-optimization insights."""

from __future__ import annotations

import argparse
import json


def _refresh(args: argparse.Namespace) -> int:
    from auralink.jobs import run_job

    params = {k: v for k, v in (("as_of", args.as_of), ("org", args.org)) if v}
    print(json.dumps(run_job("refresh_cost_insights", params), indent=2, default=str))
    return 0


def _list(args: argparse.Namespace) -> int:
    from psycopg.rows import dict_row

    from auralink.db.connection import connect

    with connect(autocommit=True) as conn:
        rows = conn.cursor(row_factory=dict_row).execute(
            """SELECT organization_id, insight_type, title, estimated_monthly_saving_usd, status, last_detected_at,
                      description, evidence
               FROM cost_optimization_insights
               WHERE (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid) AND (%(all)s OR status = 'open')
               ORDER BY estimated_monthly_saving_usd DESC, insight_type""",
            {"org": args.org, "all": args.all}).fetchall()
    print(json.dumps(rows, indent=2, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ins = subparsers.add_parser("insights", help="cost-optimization insights").add_subparsers(
        dest="insights_command", required=True)
    p = ins.add_parser("refresh", help="recompute insights now")
    p.add_argument("--as-of", help="ISO timestamp (default: now)")
    p.add_argument("--org", help="only this organization id")
    p.set_defaults(func=_refresh)
    p = ins.add_parser("list", help="open insights, largest saving first")
    p.add_argument("--org")
    p.add_argument("--all", action="store_true", help="include dismissed, applied and resolved")
    p.set_defaults(func=_list)
