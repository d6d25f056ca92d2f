"""``auralink reports``: validate a definition file, show the allow-list, run due reports."""

from __future__ import annotations

import argparse
import json


def _validate(args: argparse.Namespace) -> int:
    import dataclasses

    from auralink import safejson
    from auralink.cli import EXIT_BAD_ITEM, CliError
    from auralink.reports.definition import LIMITS, ReportDefinitionError, validate, validate_formats
    from auralink.reports.query import build_query

    # A file may hold a bare definition or a whole report ({"definition": ..., "formats": ...,
    # "schedule_cron": ...}): one more level and a little more text than a definition alone.
    file_limits = dataclasses.replace(LIMITS, max_bytes=LIMITS.max_bytes + 4096, max_depth=LIMITS.max_depth + 1)
    try:
        with open(args.file, "rb") as fh:
            data = fh.read(file_limits.max_bytes + 1)   # never more than the limit into memory
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    if len(data) > file_limits.max_bytes:
        raise CliError(f"{args.file}: invalid report definition: the file is over {file_limits.max_bytes:,} bytes",
                       EXIT_BAD_ITEM)
    try:
        raw = safejson.loads(data, file_limits)
    except safejson.JsonLimitError as exc:
        where = f"{exc.path}: {exc.reason}" if exc.path else f"the file {exc.reason}"
        raise CliError(f"{args.file}: invalid report definition: {where}", EXIT_BAD_ITEM) from None
    definition = raw.get("definition", raw) if isinstance(raw, dict) else raw
    try:
        defn = validate(definition)
        if isinstance(raw, dict) and "formats" in raw:
            validate_formats(raw["formats"])
        cron = raw.get("schedule_cron") if isinstance(raw, dict) else None
        if cron:
            from croniter import croniter  # type: ignore[import-untyped]

            if not isinstance(cron, str) or not croniter.is_valid(cron):
                raise ReportDefinitionError(f"schedule_cron {cron!r} is not a valid cron expression")
    except ReportDefinitionError as exc:
        raise CliError(f"{args.file}: invalid report definition: {exc}", EXIT_BAD_ITEM) from None
    print(f"{args.file}: valid ({defn.source}: {', '.join(m.name for m in defn.metrics)}"
          f"{' by ' + ', '.join(defn.dimensions) if defn.dimensions else ''})")
    if args.show_sql:
        print(build_query(defn))
    return 0


def _columns(args: argparse.Namespace) -> int:
    from auralink.reports.definition import allow_list

    print(json.dumps(allow_list(), indent=2))
    return 0


def _run(args: argparse.Namespace) -> int:
    from auralink.cli import EXIT_BAD_ITEM, EXIT_USAGE, CliError
    from auralink.jobs import run_job
    from auralink.reports.runner import parse_report_id

    if args.report is not None:
        try:
            report_id = parse_report_id(args.report)
        except ValueError as exc:
            raise CliError(f"--report: {exc}", EXIT_USAGE) from None
        from auralink.db.connection import connect

        with connect(autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM custom_reports WHERE id = %s", (report_id,)).fetchone() is None:
                raise CliError(f"no report {report_id}", EXIT_BAD_ITEM)
        args.report = str(report_id)
    import datetime as dt

    from auralink.jobs.interval import DataInterval, parse_time

    # On demand, "due now" means now (asked for explicitly): the job's "now" is its interval's end.
    now = parse_time(args.now) if args.now else dt.datetime.now(dt.UTC)
    params = {"report_id": args.report} if args.report else {}
    print(json.dumps(run_job("generate_due_reports", params, interval=DataInterval.ending_at(now)), indent=2,
                     default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    rep = subparsers.add_parser("reports", help="custom reports").add_subparsers(dest="reports_command", required=True)
    p = rep.add_parser("validate", help="check a report definition file (JSON) against the allow-list")
    p.add_argument("file")
    p.add_argument("--show-sql", action="store_true", help="print the query it would run")
    p.set_defaults(func=_validate)
    rep.add_parser("columns", help="the allow-list: sources, metrics, aggregations, dimensions, filters").set_defaults(
        func=_columns)
    p = rep.add_parser("run", help="generate the reports that are due now")
    p.add_argument("--now", help="ISO timestamp to evaluate schedules at (default: now)")
    p.add_argument("--report", help="only this report id")
    p.set_defaults(func=_run)
