"""`auralink analytics ...`: build the dbt project, write its manifest, refresh the views."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analytics", help="dbt analytics: build, manifest, view refresh")
    sub = parser.add_subparsers(dest="analytics_command", required=True)

    build = sub.add_parser("build", help="dbt build (seeds, models, tests) into schema analytics")
    build.add_argument("--select", help="dbt node selection")
    build.add_argument("--exclude", default="tag:parity", help="dbt exclusion (default: tag:parity)")
    build.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    build.set_defaults(func=_build)

    manifest = sub.add_parser("manifest", help="dbt parse: write dbt_project/target/manifest.json for the DAG")
    manifest.add_argument("--force", action="store_true", help="parse even if the manifest is up to date")
    manifest.set_defaults(func=_manifest)

    docs = sub.add_parser("docs", help="the dbt docs site: its path, --generate it, --open it in a browser")
    docs.add_argument("--generate", action="store_true",
                      help="dbt docs generate now (the database's catalog; the nightly job dbt_docs does it)")
    docs.add_argument("--empty-catalog", action="store_true",
                      help="with --generate: no database needed (models, descriptions, lineage; no column types)")
    docs.add_argument("--if-missing", action="store_true", help="with --generate: only when there is no site yet")
    docs.add_argument("--open", action="store_true", help="open the site (static_index.html) in the browser")
    docs.add_argument("--url", action="store_true", help="print a file:// URL of the site instead of its path")
    docs.set_defaults(func=_docs)

    refresh = sub.add_parser("refresh-views", help="refresh the analytics materialized views")
    refresh.set_defaults(func=_refresh)


def _build(args: argparse.Namespace) -> int:
    from auralink.analytics.dbt_runner import DbtFailed, build
    from auralink.cli import CliError

    try:
        run = build(select=args.select, exclude=args.exclude, full_refresh=args.full_refresh)
    except DbtFailed as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(run.stats(), indent=2))
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from auralink.analytics.dbt_runner import ensure_manifest

    print(ensure_manifest(force=args.force))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from auralink.analytics.dbt_runner import DbtFailed, docs_dir, generate_docs
    from auralink.cli import CliError

    site = docs_dir()
    if args.generate and not (args.if_missing and (site / "index.html").exists()):
        try:
            print(json.dumps(generate_docs(empty_catalog=args.empty_catalog), indent=2))
        except DbtFailed as exc:
            raise CliError(str(exc)) from None
    page = site / "static_index.html"
    if not page.exists():
        raise CliError(f"no dbt docs in {site} yet: run `auralink analytics docs --generate` (or the nightly)")
    if args.open:
        import webbrowser

        webbrowser.open(page.as_uri())
    if not args.generate or args.url or args.open:
        print(page.as_uri() if args.url else site / "index.html")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from auralink.jobs import run_job

    print(json.dumps(run_job("refresh_analytics_views"), indent=2, default=str))
    return 0
