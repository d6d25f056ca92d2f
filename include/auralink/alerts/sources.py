"""What deserves an alert tonight, read from the tables the other jobs keep (no rule is restated here but
the "about to be overdue" window): open high/critical security events, compliance requests flagged overdue
(``is_overdue``, set by flag_overdue_compliance_requests) and open requests due within ``due_soon_days``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from auralink.alerts.channels import SEVERITIES, Alert, link

OPEN_REQUEST_STATUSES = ("pending", "in_progress")


def security_alerts(conn: psycopg.Connection, *, until: dt.datetime, since: dt.datetime,
                    min_severity: str = "high") -> list[Alert]:
    """Open events at or above ``min_severity`` active in [since, until) (the event's own audit times)."""
    wanted = list(SEVERITIES[SEVERITIES.index(min_severity):])
    rows = conn.execute(
        """SELECT e.id, e.rule, e.severity, e.organization_id, o.name, e.first_seen_at, e.last_seen_at, e.occurrences
           FROM security_events e LEFT JOIN organizations o ON o.id = e.organization_id
           WHERE e.severity = ANY(%s) AND e.status = 'open' AND e.last_seen_at >= %s AND e.first_seen_at < %s
           ORDER BY e.id""", (wanted, since, until)).fetchall()
    return [Alert(key=f"security_event:{eid}", kind="security_event", severity=severity,
                  title=f"security event {eid}: {rule}", link=link(f"security/events/{eid}"),
                  organization_id=str(org) if org else None, organization_name=org_name,
                  facts={"event_id": str(eid), "rule": rule, "first_seen_at": _iso(first),
                         "last_seen_at": _iso(last), "occurrences": str(occurrences)})
            for eid, rule, severity, org, org_name, first, last, occurrences in rows]


def compliance_alerts(conn: psycopg.Connection, *, now: dt.datetime, due_soon_days: int = 3) -> list[Alert]:
    """Requests flagged overdue, and open ones whose (extended) deadline falls within ``due_soon_days``."""
    rows = conn.execute(
        """SELECT r.id, r.request_type, r.standard, r.organization_id, o.name,
                  COALESCE(r.extended_due_at, r.due_at) AS deadline, r.is_overdue
           FROM compliance_requests r JOIN organizations o ON o.id = r.organization_id
           WHERE r.status = ANY(%(open)s)
             AND (r.is_overdue OR COALESCE(r.extended_due_at, r.due_at) < %(soon)s)
           ORDER BY deadline, r.id""",
        {"open": list(OPEN_REQUEST_STATUSES), "soon": now + dt.timedelta(days=due_soon_days)}).fetchall()
    out = []
    for rid, request_type, standard, org, org_name, deadline, overdue in rows:
        if not overdue and deadline < now:
            continue  # past its deadline but not flagged (yet): the flag is the overdue rule's one home
        kind = "compliance_overdue" if overdue else "compliance_due_soon"
        what = "overdue" if overdue else f"due within {due_soon_days} days"
        out.append(Alert(key=f"{kind}:{rid}:{_iso(deadline)}", kind=kind, severity="high" if overdue else "medium",
                         title=f"{standard} {request_type} request {rid} {what}", link=link(f"compliance/requests/{rid}"),
                         organization_id=str(org), organization_name=org_name,
                         facts={"request_id": str(rid), "request_type": request_type, "standard": standard,
                                "deadline": _iso(deadline)}))
    return out


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
