"""`auralink quality ...`: where the Data Docs are, and what the last gate runs found."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("quality", help="Great Expectations quality gates: Data Docs and results")
    sub = parser.add_subparsers(dest="quality_command", required=True)

    docs = sub.add_parser("docs", help="print the path of the Data Docs site (index.html); --open opens it")
    docs.add_argument("--open", action="store_true", help="open it in the default web browser")
    docs.add_argument("--url", action="store_true", help="print a file:// URL instead of a path")
    docs.set_defaults(func=_docs)

    results = sub.add_parser("results", help="the checks of the latest gate run of each phase")
    results.add_argument("--phase", choices=["source", "analytics"], help="only this phase")
    results.add_argument("--failed", action="store_true", help="only failed checks")
    results.set_defaults(func=_results)


def _docs(args: argparse.Namespace) -> int:
    from auralink.cli import CliError
    from auralink.quality_gates.store import data_docs_index

    index = data_docs_index()
    if not index.exists():
        raise CliError(f"no Data Docs yet at {index}: run a gate first "
                       "(auralink jobs run check_source_quality, or the nightly pipeline)")
    print(index.as_uri() if args.url else index)
    if args.open:
        import webbrowser

        webbrowser.open(index.as_uri())
    return 0


def _results(args: argparse.Namespace) -> int:
    from auralink.db.connection import connect

    with connect(autocommit=True) as conn:
        rows = conn.execute(
            """WITH latest AS (
                   SELECT DISTINCT ON (phase) phase, job_run_id FROM data_quality_results
                   WHERE (%(phase)s::text IS NULL OR phase = %(phase)s) ORDER BY phase, checked_at DESC, id DESC)
               SELECT r.phase, r.checked_at, r.success, r.blocking, r.table_name, r.expectation, r.column_name,
                      r.description
               FROM data_quality_results r JOIN latest l
                 ON l.phase = r.phase AND l.job_run_id IS NOT DISTINCT FROM r.job_run_id
               WHERE NOT %(failed)s OR NOT r.success
               ORDER BY r.phase DESC, r.success, r.table_name, r.id""",
            {"phase": args.phase, "failed": args.failed}).fetchall()
    if not rows:
        print("no quality-gate results" + (" failed" if args.failed else ""))
    for phase, checked_at, success, blocking, table, expectation, column, description in rows:
        state = "ok  " if success else ("FAIL" if blocking else "warn")
        print(f"{state} {phase:9s} {checked_at:%Y-%m-%d %H:%M} {table}.{column or ''} {expectation}"
              + (f"  - {description}" if description and not success else ""))
    return 0
