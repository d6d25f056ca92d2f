"""``auralink compliance ...``: submit, process, export, erase, extend, flag overdue, archive, report, catalog."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a uuid: {text!r}") from None


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _run(job: str, params: dict[str, Any], triggered_by: str = "cli") -> dict[str, Any]:
    from auralink.jobs import run_job

    return run_job(job, {k: v for k, v in params.items() if v is not None}, triggered_by=triggered_by)


def _request_outcome(request_id: str) -> dict[str, Any]:
    from auralink.db.connection import connect

    with connect(autocommit=True) as conn:
        cur = conn.execute("SELECT id, request_type, status, error, result_location, result_checksum, due_at,"
                           " extended_due_at, completed_at FROM compliance_requests WHERE id = %s", (request_id,))
        row = cur.fetchone()
        if row is None:
            from auralink.cli import EXIT_BAD_ITEM, CliError

            raise CliError(f"no compliance request {request_id}", EXIT_BAD_ITEM)
        return dict(zip([d.name for d in cur.description or ()], row))


def cmd_submit(args: argparse.Namespace) -> int:
    from auralink.cli import EXIT_BAD_ITEM, EXIT_USAGE, CliError
    from auralink.compliance.requests import RequestRejected, UnknownReference, submit_request
    from auralink.db.connection import connect

    try:
        with connect() as conn:
            rid = submit_request(conn, organization_id=args.org, request_type=args.type, subject_email=args.email,
                                 subject_user_id=args.user_id, export_format=args.format, standard=args.standard,
                                 scope=args.scope, requested_by=args.requested_by)
            conn.commit()
    except RequestRejected as exc:        # --scope '[1,2]', a NUL in --email: the command line is wrong
        raise CliError(str(exc), EXIT_USAGE) from None
    except UnknownReference as exc:       # --org / --user-id naming nothing: that item is bad
        raise CliError(str(exc), EXIT_BAD_ITEM) from None
    _print(_request_outcome(str(rid)))
    return 0


def _process_one(args: argparse.Namespace) -> int:
    from auralink.cli import CliError

    expected = {"export": "export", "erase": "deletion"}.get(args.compliance_command)
    before = _request_outcome(args.request_id)
    if expected and before["request_type"] != expected:
        raise CliError(f"request {args.request_id} has type {before['request_type']}, not {expected}")
    _run("process_compliance_requests", {"request_id": args.request_id})
    out = _request_outcome(args.request_id)
    _print(out)
    if out["status"] != "completed":
        raise CliError(f"request {args.request_id} is {out['status']}: {out['error'] or 'not processed (not pending?)'}")
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    _print(_run("process_compliance_requests", {"batch_size": args.batch_size}))
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from auralink.compliance.requests import extend_deadline
    from auralink.db.connection import connect

    with connect() as conn:
        new_due = extend_deadline(conn, args.request_id, args.reason)
        conn.commit()
    print(f"request {args.request_id} now due {new_due.isoformat()}")
    return 0


def cmd_flag_overdue(args: argparse.Namespace) -> int:
    _print(_run("flag_overdue_compliance_requests", {}))
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    _print(_run("archive_audit_logs", {"retention_days": args.retention_days, "max_partitions": args.max_partitions}))
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    _print(_run("apply_retention_policies", {"organization_id": args.org}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    result = _run("compliance_report", {"organization_id": args.org, "standard": args.standard,
                                        "formats": args.format, "period_days": args.period_days})
    _print(result["files"])
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    """Columns of the database and of the dbt models the catalog does not classify, and dbt meta drift."""
    from auralink.cli import EXIT_BAD_ITEM, CliError
    from auralink.compliance import catalog, dbt_meta
    from auralink.db.connection import connect

    if args.write_dbt_meta:
        for path in dbt_meta.sync():
            print(f"wrote {path}")
    with connect(autocommit=True) as conn:
        problems = [f"unclassified column {c}" for c in catalog.unclassified(conn)]
    problems += dbt_meta.check()
    for p in problems:
        print(p)
    if problems:
        raise CliError(f"{len(problems)} catalog problem(s): classify them in include/auralink/compliance/catalog.yaml",
                       EXIT_BAD_ITEM)
    print(f"catalog {catalog.load().version}: every column classified, dbt meta in step")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("compliance", help="GDPR/HIPAA requests, retention, audit archival, reports") \
        .add_subparsers(dest="compliance_command", required=True)

    p = sub.add_parser("submit", help="record a data-subject request (deadline: one calendar month)")
    p.add_argument("--org", required=True, type=_uuid)
    p.add_argument("--type", required=True, choices=["export", "deletion", "rectification"])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--user-id", type=_uuid)
    p.add_argument("--format", default="json", help="export format: json, csv or pdf")
    p.add_argument("--standard", default="GDPR", choices=["GDPR", "HIPAA", "SOC2"])
    p.add_argument("--scope", help='JSON, e.g. {"categories": [...]} or {"changes": {"full_name": "..."}}')
    p.add_argument("--requested-by")
    p.set_defaults(func=cmd_submit)

    for name, help_ in (("export", "carry out one export request now"), ("erase", "carry out one erasure request now"),
                        ("run", "carry out one request of any type now")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--request-id", required=True, type=_uuid)
        p.set_defaults(func=_process_one)

    p = sub.add_parser("process", help="carry out pending requests (what the nightly job does)")
    p.add_argument("--batch-size", type=int, default=20)
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("extend", help="extend a request's deadline by two months (Art. 12(3)), with a reason")
    p.add_argument("--request-id", required=True, type=_uuid)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_extend)

    sub.add_parser("flag-overdue", help="flag open requests past their deadline").set_defaults(func=cmd_flag_overdue)

    p = sub.add_parser("archive", help="archive audit-log partitions past retention to verified files")
    p.add_argument("--retention-days", type=int, default=90)
    p.add_argument("--max-partitions", type=int)
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser("retention", help="apply the retention policies now")
    p.add_argument("--org", type=_uuid)
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("catalog", help="check the data catalog: unclassified columns, dbt meta drift")
    p.add_argument("--write-dbt-meta", action="store_true", help="write the missing dbt meta.privacy lines first")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("report", help="compliance report for one organization and standard")
    p.add_argument("--org", required=True, type=_uuid)
    p.add_argument("--standard", default="GDPR", choices=["GDPR", "HIPAA", "SOC2"])
    p.add_argument("--format", default="json,pdf", help="json, pdf or json,pdf")
    p.add_argument("--period-days", type=int, default=90)
    p.set_defaults(func=cmd_report)


