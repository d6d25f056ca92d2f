"""``auralink billing``: generate or show an invoice, ingest usage records."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid


def _org(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"--org must be an organization id (uuid), got {text!r}") from None


def _invoice(args: argparse.Namespace) -> int:
    from auralink.billing.invoices import InvoiceError, generate_invoice, invoice_document, parse_month
    from auralink.cli import CliError
    from auralink.db.connection import connect

    month, org = parse_month(args.month), _org(args.org)
    with connect(autocommit=True) as conn:
        if not args.show_only:
            try:
                generate_invoice(conn, org, month, finalize=True if args.finalize else None)
            except InvoiceError as exc:
                raise CliError(str(exc)) from None
        doc = invoice_document(conn, org, month)
    if doc is None:
        raise CliError(f"no invoice for organization {org} and {month:%Y-%m}")
    print(json.dumps(doc, indent=2, default=str))
    return 0


def _costs(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from auralink.billing.invoices import parse_month
    from auralink.cli import CliError
    from auralink.db.connection import connect

    with connect() as conn:
        try:
            row = conn.cursor(row_factory=dict_row).execute(
                "SELECT * FROM calculate_monthly_costs(%s, %s)", (_org(args.org), parse_month(args.month))).fetchone()
        except psycopg.errors.NoDataFound as exc:
            raise CliError(str(exc).splitlines()[0]) from None
    print(json.dumps(row, indent=2, default=str))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from auralink.billing.usage import record_usage
    from auralink.db.connection import connect

    records = []
    with (contextlib.nullcontext(sys.stdin) if args.file == "-" else open(args.file)) as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{args.file}:{n}: not JSON: {exc.msg}") from None
    with connect() as conn:
        result = record_usage(conn, records)
        conn.commit()
    print(json.dumps({"inserted": result.inserted, "duplicates": result.duplicates,
                      "rejected": [{"line": pos + 1, "reason": r} for pos, r in result.rejected]}, indent=2))
    return 1 if result.rejected else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    billing = subparsers.add_parser("billing", help="invoices and usage").add_subparsers(dest="billing_command",
                                                                                        required=True)
    p = billing.add_parser("invoice", help="generate (or refresh the draft of) one invoice and print it")
    p.add_argument("--org", required=True, help="organization id")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--finalize", action="store_true", help="finalize it (only once the month is over)")
    p.add_argument("--show-only", action="store_true", help="print the stored invoice, change nothing")
    p.set_defaults(func=_invoice)
    p = billing.add_parser("costs", help="calculate_monthly_costs() for one organization and month")
    p.add_argument("--org", required=True)
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.set_defaults(func=_costs)
    p = billing.add_parser("ingest", help="ingest usage records (JSON lines); re-sent records are ignored")
    p.add_argument("file", help="a .jsonl file, or - for stdin")
    p.set_defaults(func=_ingest)
