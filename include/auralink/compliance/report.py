"""Compliance report per organization and standard (GDPR, HIPAA, SOC2), as JSON and PDF.

Sections: controls (pass / attention, with the evidence), data-subject requests by status and SLA,
retention runs, audit-log archives, legal holds, security events, and an access review: who holds
which role, and what each role may do, evaluated with pycasbin over ``casbin_rule`` using the
product's model (request (sub, obj, act); g = _, _; allow if some policy allows;
``g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from auralink.compliance import exports, storage
from auralink.db.connection import scalar

STANDARDS = ("GDPR", "HIPAA", "SOC2")
FORMATS = ("json", "pdf")
CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""
PRIVILEGED_ACTIONS = ("manage", "admin", "delete", "export", "write", "*")


def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def enforcer(conn: psycopg.Connection):
    """A casbin enforcer loaded with every p and g rule of casbin_rule."""
    import casbin

    model = casbin.Model()
    model.load_model_from_text(CASBIN_MODEL)
    e = casbin.Enforcer(model)
    for ptype, v0, v1, v2 in conn.execute("SELECT ptype, v0, v1, v2 FROM casbin_rule WHERE ptype IN ('p', 'g')"
                                          " ORDER BY id").fetchall():
        if ptype == "p" and v0 and v1 and v2:
            e.add_policy(v0, v1, v2)
        elif ptype == "g" and v0 and v1:
            e.add_grouping_policy(v0, v1)
    return e


def access_review(conn: psycopg.Connection, organization_id: Any) -> dict[str, Any]:
    e = enforcer(conn)
    permissions = sorted({(p[1], p[2]) for p in e.get_policy()})
    members = _rows(conn,
                    "SELECT u.id, u.email, u.full_name, u.is_active, u.erased_at, m.member_role, m.left_at,"
                    " COALESCE((SELECT array_agg(r.name || CASE WHEN a.expires_at < now() THEN ' (expired)' ELSE '' END"
                    "   ORDER BY r.name) FROM user_role_assignments a JOIN rbac_roles r ON r.id = a.role_id"
                    "   WHERE a.user_id = u.id AND a.organization_id = m.organization_id), '{}') AS assigned_roles"
                    " FROM organization_members m JOIN users u ON u.id = m.user_id WHERE m.organization_id = %s"
                    " ORDER BY m.member_role, u.email", (organization_id,))
    users, findings = [], []
    for m in members:
        subjects = [str(m["id"]), f"user:{m['id']}", m["email"]]
        roles = sorted({r for s in subjects for r in e.get_implicit_roles_for_user(s)})
        allowed = sorted(f"{obj}:{act}" for obj, act in permissions if any(e.enforce(s, obj, act) for s in subjects))
        privileged = [a for a in allowed if a.rsplit(":", 1)[1] in PRIVILEGED_ACTIONS] or m["member_role"] in ("owner", "admin")
        entry = {"user_id": str(m["id"]), "email": m["email"], "member_role": m["member_role"],
                 "casbin_roles": roles, "assigned_roles": list(m["assigned_roles"]), "allowed": allowed,
                 "privileged": bool(privileged), "active": m["is_active"] and m["left_at"] is None}
        users.append(entry)
        if allowed and not entry["active"]:
            findings.append({"user_id": entry["user_id"], "finding": "inactive or departed user still has access",
                             "allowed": allowed})
        if any(r.endswith("(expired)") for r in entry["assigned_roles"]):
            findings.append({"user_id": entry["user_id"], "finding": "expired role assignment still on record"})
    grants: dict[str, list[str]] = {}
    for sub, obj, act in e.get_policy():
        grants.setdefault(sub, []).append(f"{obj}:{act}")
    return {"model": CASBIN_MODEL.strip(), "users": users,
            "roles": [{"role": r, "permissions": sorted(p)} for r, p in sorted(grants.items())],
            "findings": findings}


def build_report(conn: psycopg.Connection, organization_id: Any, standard: str, *, period_days: int = 90,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    standard = standard.upper()
    if standard not in STANDARDS:
        raise ValueError(f"unsupported standard {standard!r} (supported: {', '.join(STANDARDS)})")
    org = _rows(conn, "SELECT id, name, plan FROM organizations WHERE id = %s", (organization_id,))
    if not org:
        raise ValueError(f"unknown organization {organization_id}")
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=period_days)
    p = {"org": organization_id, "since": since, "now": now}
    requests = _rows(conn,
                     "SELECT request_type, status, count(*) AS requests,"
                     " count(*) FILTER (WHERE completed_at <= COALESCE(extended_due_at, due_at)) AS on_time,"
                     " count(*) FILTER (WHERE completed_at > COALESCE(extended_due_at, due_at)) AS late,"
                     " count(*) FILTER (WHERE status IN ('pending', 'in_progress') AND COALESCE(extended_due_at, due_at) < %(now)s) AS overdue,"
                     " count(*) FILTER (WHERE extended_due_at IS NOT NULL) AS extended,"
                     " round(avg(extract(epoch FROM completed_at - received_at) / 86400)::numeric, 2) AS avg_days_to_complete"
                     " FROM compliance_requests WHERE organization_id = %(org)s AND received_at >= %(since)s"
                     " GROUP BY 1, 2 ORDER BY 1, 2", p)
    open_requests = _rows(conn,
                          "SELECT id, request_type, status, received_at, COALESCE(extended_due_at, due_at) AS due,"
                          " extension_reason, is_overdue FROM compliance_requests WHERE organization_id = %(org)s"
                          " AND status IN ('pending', 'in_progress') ORDER BY 5", p)
    policies = _rows(conn, "SELECT resource_type, action, retention_days, enabled FROM data_retention_policies"
                           " WHERE organization_id = %(org)s ORDER BY resource_type", p)
    retention = _rows(conn,
                      "SELECT resource_type, action, status, count(*) AS runs, sum(rows_affected) AS rows_affected,"
                      " sum(files_deleted) AS files_deleted, sum(rows_held) AS rows_held, max(finished_at) AS last_run"
                      " FROM retention_runs WHERE organization_id = %(org)s AND started_at >= %(since)s"
                      " GROUP BY 1, 2, 3 ORDER BY 1", p)
    archives = _rows(conn,
                     "SELECT partition_name, status, row_count, held_rows, location, content_sha256, verified_at, dropped_at"
                     " FROM audit_log_archives ORDER BY range_start")
    held_audit = scalar(conn, "SELECT count(*) FROM audit_logs_held WHERE organization_id = %(org)s", p)
    legal_holds = _rows(conn, "SELECT id, scope, resource_type, resource_id, reason, case_reference, placed_by, placed_at"
                              " FROM legal_holds WHERE organization_id = %(org)s AND released_at IS NULL ORDER BY placed_at", p)
    security = _rows(conn, "SELECT severity, status, count(*) AS events FROM security_events"
                           " WHERE organization_id = %(org)s AND detected_at >= %(since)s GROUP BY 1, 2 ORDER BY 1, 2", p)
    audit_events = scalar(conn, "SELECT count(*) FROM audit_logs WHERE organization_id = %(org)s AND occurred_at >= %(since)s",
                                p)
    review = access_review(conn, organization_id)
    overdue = sum(1 for r in open_requests if r["due"] < now)  # open ones, whenever received
    late = sum(r["late"] for r in requests)
    open_critical = sum(r["events"] for r in security if r["severity"] in ("high", "critical") and r["status"] == "open")
    resource_types_covered = {p_["resource_type"] for p_ in policies if p_["enabled"]}

    def control(cid: str, title: str, ok: bool, evidence: str) -> dict[str, Any]:
        return {"control": cid, "title": title, "status": "pass" if ok else "attention", "evidence": evidence}

    common = [
        control("access-review", "Access review performed with casbin over casbin_rule",
                not review["findings"], f"{len(review['users'])} members reviewed, {len(review['findings'])} findings"),
        control("legal-holds", "Legal holds honoured by every deleting path", True,
                f"{len(legal_holds)} active holds; {held_audit} audit rows kept in audit_logs_held"),
    ]
    specific = {
        "GDPR": [
            control("Art. 12(3)", "Data-subject requests answered within one month (or the extended deadline)",
                    overdue == 0 and late == 0, f"{overdue} overdue, {late} answered late in the period"),
            control("Art. 5(1)(e)", "Storage limitation: retention policies configured and applied",
                    bool(resource_types_covered), f"policies for: {', '.join(sorted(resource_types_covered)) or 'none'}"),
            control("Art. 17", "Erasure requests carried out with proof",
                    all(r["status"] != "failed" for r in requests if r["request_type"] == "deletion"),
                    f"{sum(r['requests'] for r in requests if r['request_type'] == 'deletion')} erasure requests"),
        ],
        "HIPAA": [
            control("164.312(b)", "Audit controls: activity is logged", audit_events > 0,
                    f"{audit_events} audit events in the last {period_days} days"),
            control("164.316(b)(2)", "Documentation retained: audit archives verified before partitions are dropped",
                    all(a["verified_at"] for a in archives if a["status"] == "dropped"),
                    f"{sum(1 for a in archives if a['status'] == 'dropped')} verified archives"),
            control("164.308(a)(1)(ii)(D)", "Information system activity review: no open high/critical events",
                    open_critical == 0, f"{open_critical} open high/critical security events"),
        ],
        "SOC2": [
            control("CC6.1/CC6.3", "Logical access limited to active users with assigned roles",
                    not review["findings"], f"{len(review['findings'])} access findings"),
            control("CC7.2", "Security events monitored and triaged", open_critical == 0,
                    f"{open_critical} open high/critical security events"),
            control("CC7.4", "Audit trail preserved (archived losslessly with checksums)",
                    all(a["content_sha256"] for a in archives if a["status"] == "dropped"),
                    f"{len(archives)} partition archives recorded"),
        ],
    }[standard]
    return {
        "organization": {k: str(v) for k, v in org[0].items()}, "standard": standard,
        "period": {"from": since.isoformat(), "to": now.isoformat(), "days": period_days},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "controls": common + specific, "requests": requests, "open_requests": open_requests,
        "retention_policies": policies, "retention_runs": retention, "audit_log_archives": archives,
        "legal_holds": legal_holds, "security_events": security, "audit_events_in_period": audit_events,
        "access_review": review,
    }


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return exports.to_json_text(report).encode("utf-8")
    if fmt != "pdf":
        raise ValueError(f"unsupported report format {fmt!r} (supported: {', '.join(FORMATS)})")
    review = report["access_review"]
    sections = {
        "controls": report["controls"],
        "data_subject_requests": report["requests"],
        "open_requests": report["open_requests"],
        "retention_policies": report["retention_policies"],
        "retention_runs": report["retention_runs"],
        "audit_log_archives": report["audit_log_archives"],
        "legal_holds": report["legal_holds"],
        "security_events": report["security_events"],
        "access_review_users": [{k: v for k, v in u.items()} for u in review["users"]],
        "access_review_roles": review["roles"],
        "access_review_findings": review["findings"],
    }
    org = report["organization"]
    intro = [f"Organization: {org['name']} ({org['id']})", f"Standard: {report['standard']}",
             f"Period: {report['period']['from']} to {report['period']['to']}",
             f"Generated at: {report['generated_at']}",
             f"Controls needing attention: {sum(c['status'] != 'pass' for c in report['controls'])}"]
    return exports.render_pdf(f"{report['standard']} compliance report: {org['name']}", intro, sections)


def write_report(conn: psycopg.Connection, organization_id: Any, standard: str, formats: list[str], *,
                 period_days: int = 90) -> dict[str, Any]:
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"unsupported report format {', '.join(bad) or '(none)'} (supported: {', '.join(FORMATS)})")
    report = build_report(conn, organization_id, standard, period_days=period_days)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out: dict[str, Any] = {"controls_attention": sum(c["status"] != "pass" for c in report["controls"]), "files": {}}
    for fmt in formats:
        location = storage.join(storage.export_root(), "reports", str(organization_id),
                                f"{report['standard'].lower()}-{stamp}.{fmt}")
        out["files"][fmt] = {"location": location, "sha256": storage.write_bytes(location, render(report, fmt))}
    return out
