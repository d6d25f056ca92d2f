"""``auralink``: the command line every orchestrator and person uses.

Expected failures (database unreachable, unknown job, bad arguments, failed job) print one line on
stderr and exit non-zero; tracebacks are for bugs. Domain packages add subcommands with a
``cli.py`` module that defines ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import pkgutil
import sys
from typing import Any

from auralink import config

log = logging.getLogger("auralink")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_ITEM = 3   # the item itself is bad (corrupt file, unknown id): recorded; retrying cannot help


class CliError(Exception):
    """An expected failure: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--param takes key=value, got {pair!r}", EXIT_USAGE)
        params[key.replace("-", "_")] = value
    return params


# --- db -----------------------------------------------------------------------------------------

def cmd_db_migrate(args: argparse.Namespace) -> int:
    from auralink.db.migrate import migrate

    applied = migrate()
    if applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print("schema is up to date")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from auralink.db.connection import database_url
    from auralink.db.migrate import status

    st = status()
    print(f"database: {config.redact_url(database_url())}")
    print(f"version:  {st.current_version if st.current_version is not None else 'empty (no migrations applied)'}")
    for version, name in st.pending:
        print(f"pending:  {version:04d}_{name}")
    if not st.pending:
        print("pending:  none")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from auralink.db.embedded import data_directory, stop_server

    print("stopped the embedded database" if stop_server() else f"no embedded database running at {data_directory()}")
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    from auralink.db.connection import database_url

    url = database_url()
    print(url if args.show_password else config.redact_url(url))
    return 0


# --- seed ---------------------------------------------------------------------------------------

def cmd_seed(args: argparse.Namespace) -> int:
    from auralink.seed.generator import SeedConfig, seed_database

    cfg = SeedConfig(orgs=args.orgs, days=args.days, seed=args.seed, end_date=args.end_date,
                     audio=not args.no_audio, audit_events_per_user_day=args.audit_events_per_user_day)
    counts = seed_database(cfg, progress=not args.quiet, reset=args.reset)
    for table, n in counts.items():
        print(f"{table:28s} {n:>12,d}")
    return 0


# --- jobs ---------------------------------------------------------------------------------------

def cmd_jobs_list(args: argparse.Namespace) -> int:
    from auralink.jobs import all_jobs

    for j in all_jobs():
        params = ", ".join(
            f"{p.name}={p.default!r}" if p.default is not p.empty else p.name for p in j.parameters().values()
        )
        where = "+".join(j.pipelines) if j.pipelines else "on demand"
        flags = " (current night only)" if j.current_only else ""
        print(f"{j.name:34s} {where:20s} {j.help}{flags}" + (f"  [{params}]" if params else ""))
    return 0


def _interval(args: argparse.Namespace):
    from auralink.jobs.interval import resolve

    return resolve(args.date, args.scheduled_time)


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from auralink.jobs import run_job

    result = run_job(args.name, _parse_params(args.param), interval=_interval(args), triggered_by=args.triggered_by)
    _print_json(result)
    if result["status"] == "partial" and args.fail_on_item_errors:
        raise CliError(f"job {args.name} finished with failed items (run {result['run_id']})")
    return 0


def cmd_pipeline_run(args: argparse.Namespace) -> int:
    from auralink.pipeline import run_pipeline

    results = run_pipeline(interval=_interval(args), select=args.select, exclude=args.exclude,
                           fail_fast=args.fail_fast, triggered_by=args.triggered_by)
    _print_json(results)
    return 0 if all(r["status"] not in ("failed", "upstream_failed") for r in results) else EXIT_FAILED


def cmd_pipeline_backfill(args: argparse.Namespace) -> int:
    from auralink.pipeline import backfill

    results = backfill(args.from_date, args.to_date, select=args.select, exclude=args.exclude,
                       fail_fast=args.fail_fast, triggered_by=args.triggered_by)
    _print_json(results)
    return 0 if all(r["status"] not in ("failed", "upstream_failed") for r in results) else EXIT_FAILED


def cmd_pipeline_show(args: argparse.Namespace) -> int:
    from auralink.jobs import graph

    jobs = graph.select(args.pipeline, args.select, args.exclude)
    if args.json:
        _print_json([{"job": j.name, "after": graph.upstream_of(j), "current_only": j.current_only}
                     for j in jobs])
        return 0
    for j in jobs:
        after = ", ".join(graph.upstream_of(j)) or "-"
        print(f"{j.name:34s} after {after}" + ("  [current night only]" if j.current_only else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from auralink.pipeline import run_demo

    return run_demo(orgs=args.orgs, days=args.days, seed=args.seed)


# --- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auralink", description="AuraLink data platform jobs and tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="schema migrations and connection").add_subparsers(dest="db_command", required=True)
    db.add_parser("migrate", help="apply pending migrations (a no-op when up to date)").set_defaults(func=cmd_db_migrate)
    db.add_parser("status", help="schema version and pending migrations").set_defaults(func=cmd_db_status)
    db.add_parser("stop", help="stop the embedded PostgreSQL (it is left running between commands)").set_defaults(
        func=cmd_db_stop)
    p = db.add_parser("url", help="the database URL in use (password hidden)")
    p.add_argument("--show-password", action="store_true")
    p.set_defaults(func=cmd_db_url)

    p = sub.add_parser("seed", help="load deterministic synthetic data")
    p.add_argument("--orgs", type=int, default=10)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end-date", type=_date, default=None, help="last day of data (default: today, UTC)")
    p.add_argument("--audit-events-per-user-day", type=float, default=4.0)
    p.add_argument("--no-audio", action="store_true", help="skip synthesizing speech for recordings")
    p.add_argument("--reset", action="store_true", help="empty every application table first")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_seed)

    jobs = sub.add_parser("jobs", help="list and run batch jobs").add_subparsers(dest="jobs_command", required=True)
    jobs.add_parser("list", help="every job with its parameters").set_defaults(func=cmd_jobs_list)
    p = jobs.add_parser("run", help="run one job by name, for one night")
    p.add_argument("name")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    _night_arguments(p)
    p.add_argument("--triggered-by", default="cli", help="cli, airflow or argo (recorded on the run)")
    p.add_argument("--fail-on-item-errors", action="store_true", help="exit 1 if any item failed")
    p.set_defaults(func=cmd_jobs_run)

    pl = sub.add_parser("pipeline", help="the nightly graph of jobs").add_subparsers(dest="pipeline_command", required=True)
    p = pl.add_parser("run", help="run the nightly jobs for one night, each after what it depends on")
    _night_arguments(p)
    _selection_arguments(p)
    p.add_argument("--triggered-by", default="cli")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first failed job (default: skip only what depends on it)")
    p.set_defaults(func=cmd_pipeline_run)
    p = pl.add_parser("backfill", help="the nights of a range of days, oldest first, each for its own day")
    p.add_argument("--from-date", type=_date, required=True, metavar="YYYY-MM-DD", help="the first night's day")
    p.add_argument("--to-date", type=_date, required=True, metavar="YYYY-MM-DD", help="the last night's day")
    _selection_arguments(p)
    p.add_argument("--triggered-by", default="cli")
    p.add_argument("--fail-fast", action="store_true")
    p.set_defaults(func=cmd_pipeline_backfill)
    p = pl.add_parser("show", help="the jobs of a graph in run order, with what each runs after")
    p.add_argument("--pipeline", default="nightly", help="nightly or recordings")
    _selection_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pipeline_show)

    p = sub.add_parser("demo", help="migrate, seed a demo dataset, run the pipeline and show what it made")
    p.add_argument("--orgs", type=int, default=6)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)

    _register_domain_commands(sub)
    return parser


def _night_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                   help="the night to process: that UTC day (default: the day that ended last midnight UTC)")
    p.add_argument("--scheduled-time", default=None, metavar="RFC3339",
                   help="a scheduled run's trigger time (Argo, Airflow's logical date): the UTC day before it")


def _selection_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--select", "-s", action="append", default=None, metavar="JOB",
                   help="only these jobs (repeatable); +JOB adds what it runs after, JOB+ what runs after it")
    p.add_argument("--exclude", action="append", default=None, metavar="JOB", help="not these jobs (same syntax)")


def _register_domain_commands(sub: argparse._SubParsersAction) -> None:
    import auralink

    for mod in pkgutil.iter_modules(auralink.__path__):
        if mod.ispkg and importlib.util.find_spec(f"auralink.{mod.name}.cli") is not None:
            importlib.import_module(f"auralink.{mod.name}.cli").register(sub)


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else getattr(logging, (config.env("AURALINK_LOG_LEVEL") or "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    from auralink.crypto import SecretKeyError
    from auralink.db.connection import DatabaseUnavailable
    from auralink.db.migrate import MigrationError
    from auralink.jobs import JobFailed, UnknownJob
    from auralink.seed.generator import SeedError

    try:
        return args.func(args)
    except CliError as exc:
        print(f"auralink: error: {exc}", file=sys.stderr)
        return exc.code
    except (UnknownJob, ValueError) as exc:
        print(f"auralink: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JobFailed as exc:  # a failed gate (bad data) is not retried: the same data would fail again
        print(f"auralink: error: {exc}", file=sys.stderr)
        return EXIT_FAILED if exc.retryable else EXIT_BAD_ITEM
    except (DatabaseUnavailable, MigrationError, SeedError, SecretKeyError) as exc:
        print(f"auralink: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
