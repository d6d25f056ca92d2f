"""The legal-hold check every deleting path calls, in Python.

The decision is always the SQL function ``legal_hold_applies(org, user, resource_type, resource_id)``;
bulk paths use the same function inside their SQL (``WHERE NOT legal_hold_applies(...)``) and
:data:`HOLD_SQL` / :data:`NOT_HELD_SQL` spell it once for them. ``legal_hold_reasons`` only names
the holds behind a "yes", for the skipped-item records and reports.
"""

from __future__ import annotations

from typing import Any

import psycopg

# Column placeholders: {org}, {user}, {rtype}, {rid} are SQL expressions of the row being decided.
HOLD_SQL = "legal_hold_applies({org}, {user}, {rtype}, {rid})"
REASON_SQL = "legal_hold_reasons({org}, {user}, {rtype}, {rid})"


# Evaluated once per statement (an uncorrelated InitPlan): with no active hold at all, a bulk path
# skips the per-row check instead of calling it for millions of rows that cannot be held.
ANY_ACTIVE_HOLD_SQL = "EXISTS (SELECT 1 FROM legal_holds WHERE released_at IS NULL)"


def held_predicate(org: str, user: str = "NULL::uuid", rtype: str = "NULL::text", rid: str = "NULL::text") -> str:
    """SQL that is true when a row is under hold (the one check, with the row's columns)."""
    return f"({ANY_ACTIVE_HOLD_SQL} AND {HOLD_SQL.format(org=org, user=user, rtype=rtype, rid=rid)})"


def reason_expression(org: str, user: str = "NULL::uuid", rtype: str = "NULL::text", rid: str = "NULL::text") -> str:
    return REASON_SQL.format(org=org, user=user, rtype=rtype, rid=rid)


def hold_reason(conn: psycopg.Connection, organization_id: Any, user_id: Any = None,
                resource_type: str | None = None, resource_id: Any = None) -> str | None:
    """None when no hold applies; otherwise why (``hold 3 (user, case C-1): litigation``)."""
    row = conn.execute(
        "SELECT legal_hold_applies(%s::uuid, %s::uuid, %s::text, %s::text), "
        "legal_hold_reasons(%s::uuid, %s::uuid, %s::text, %s::text)",
        (organization_id, user_id, resource_type, None if resource_id is None else str(resource_id)) * 2,
    ).fetchone()
    assert row is not None  # a SELECT of expressions always returns one row
    if not row[0]:
        return None
    return row[1] or "legal hold"


def is_held(conn: psycopg.Connection, organization_id: Any, user_id: Any = None,
            resource_type: str | None = None, resource_id: Any = None) -> bool:
    return hold_reason(conn, organization_id, user_id, resource_type, resource_id) is not None


def skip_message(reason: str) -> str:
    return f"kept under legal hold: {reason}"
