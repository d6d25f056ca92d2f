"""``auralink reports``: validate a definition file, show the allow-list, run due reports."""

from __future__ import annotations

import argparse
import json


def _validate(args: argparse.Namespace) -> int:
    from auralink.cli import CliError
    from auralink.reports.definition import ReportDefinitionError, validate, validate_formats
    from auralink.reports.query import build_query

    try:
        with open(args.file) as fh:
            text = fh.read()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{args.file}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    # A file may hold a bare definition or a whole report ({"definition": ..., "formats": ..., "schedule_cron": ...}).
    definition = raw.get("definition", raw) if isinstance(raw, dict) else raw
    try:
        defn = validate(definition)
        if isinstance(raw, dict) and "formats" in raw:
            validate_formats(raw["formats"])
        if isinstance(raw, dict) and raw.get("schedule_cron"):
            from croniter import croniter  # type: ignore[import-untyped]

            if not croniter.is_valid(raw["schedule_cron"]):
                raise ReportDefinitionError(f"schedule_cron {raw['schedule_cron']!r} is not a valid cron expression")
    except ReportDefinitionError as exc:
        raise CliError(f"{args.file}: invalid report definition: {exc}") from None
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
    from auralink.jobs import run_job

    params = {k: v for k, v in (("now", args.now), ("report_id", args.report)) if v}
    print(json.dumps(run_job("generate_due_reports", params), indent=2, default=str))
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
