"""``auralink argo ...``: run tracking (called by every workflow) and submission to an Argo Server."""

from __future__ import annotations

import argparse
import json


def cmd_record(args: argparse.Namespace) -> int:
    from auralink.argo.tracking import (
        WorkflowRun,
        parse_parameters,
        parse_timestamp,
        record_run,
        summarize_failures,
    )

    error = args.error or summarize_failures(args.failures)
    run = WorkflowRun(name=args.name, uid=args.uid, template=args.template, status=args.status,
                      namespace=args.namespace, parameters=parse_parameters(args.parameters),
                      started_at=parse_timestamp(args.started_at), finished_at=parse_timestamp(args.finished_at),
                      error=error)
    row = record_run(run)
    print(json.dumps({k: row[k] for k in ("name", "uid", "template", "status", "started_at", "finished_at", "error")},
                     default=str))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from auralink.argo.tracking import recent_runs

    for row in recent_runs(limit=args.limit, template=args.template):
        finished = row["finished_at"].isoformat(timespec="seconds") if row["finished_at"] else "-"
        line = (f"{row['started_at'].isoformat(timespec='seconds')}  {finished:25s}  {row['status']:9s}  "
                f"{row['template']:22s}  {row['name']}")
        print(line + (f"  error: {row['error']}" if row["error"] else ""))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from auralink.argo.submit import ServerConfig, SubmitError, submit
    from auralink.cli import EXIT_USAGE, CliError

    params = {}
    for pair in args.param:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"-p takes name=value, got {pair!r}", EXIT_USAGE)
        params[key] = value  # Argo parameter names are kept exactly (they use hyphens)
    try:
        server = ServerConfig.from_env(url=args.server, namespace=args.namespace)
        result = submit(args.source, params, server=server, labels={"auralink.io/submitted-by": "auralink-cli"})
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(result))
    return 0


def cmd_pending_summaries(args: argparse.Namespace) -> int:
    from auralink.argo.fanout import summary_workers
    from auralink.db.connection import connect

    with connect(autocommit=True, application_name="auralink:argo-fanout") as conn:
        print(json.dumps(summary_workers(conn, args.batch_size, args.max_workers)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    argo = subparsers.add_parser("argo", help="Argo Workflows: run tracking and submission")
    sub = argo.add_subparsers(dest="argo_command", required=True)

    p = sub.add_parser("record", help="record a workflow's status in argo_workflows (upsert on uid)")
    p.add_argument("--name", required=True, help="{{workflow.name}}")
    p.add_argument("--uid", required=True, help="{{workflow.uid}}")
    p.add_argument("--template", required=True, help="the WorkflowTemplate or CronWorkflow it came from")
    p.add_argument("--status", required=True, help="Pending, Running, Succeeded, Failed or Error ({{workflow.status}})")
    p.add_argument("--namespace", default="default", help="{{workflow.namespace}}")
    p.add_argument("--started-at", help="RFC 3339 ({{workflow.creationTimestamp}}); default: now on first record")
    p.add_argument("--finished-at", help="RFC 3339; default: now when the status is final")
    p.add_argument("--parameters", help="JSON ({{workflow.parameters.json}})")
    p.add_argument("--failures", help="JSON list ({{workflow.failures}}), summarized into the error column")
    p.add_argument("--error", help="an error message (instead of --failures)")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("runs", help="the latest tracked workflow runs")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--template")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("pending-summaries", help="JSON list, one item per summarize worker the pending "
                                                 "transcripts need (Argo withParam)")
    p.add_argument("--batch-size", type=int, default=50, help="transcripts per worker batch")
    p.add_argument("--max-workers", type=int, default=5)
    p.set_defaults(func=cmd_pending_summaries)

    p = sub.add_parser("submit", help="submit a workflow from a template to the Argo Server (ARGO_SERVER_URL, "
                                      "ARGO_TOKEN, ARGO_NAMESPACE)")
    p.add_argument("source", metavar="TEMPLATE",
                   help="WorkflowTemplate name, or KIND/NAME as in `argo submit --from` (cronwf/nightly)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="workflow parameter")
    p.add_argument("--namespace", help="default: ARGO_NAMESPACE, else 'default'")
    p.add_argument("--server", help="default: ARGO_SERVER_URL")
    p.set_defaults(func=cmd_submit)
