"""Audit-log test data inserted plainly: an organization in New York with an owner, an admin and members."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid

import pytest

_n = itertools.count()


class Audit:
    def __init__(self, conn):
        self.conn = conn
        conn.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-09-01', '2026-12-31')")
        self.org = uuid.uuid4()
        n = next(_n)
        conn.execute("INSERT INTO organizations (id, name, slug, plan, timezone) VALUES (%s, 'Sec', %s, 'pro', "
                     "'America/New_York')", (self.org, f"sec-{n}"))
        self.users = {role: self.user(role) for role in ("owner", "admin", "member", "member2")}

    def user(self, role: str) -> dict:
        uid = uuid.uuid4()
        email = f"{role}-{uid.hex[:6]}@example.com"
        self.conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (uid, email))
        self.conn.execute("INSERT INTO organization_members (organization_id, user_id, member_role) VALUES (%s, %s, %s)",
                          (self.org, uid, role.rstrip("0123456789")))
        return {"id": uid, "email": email}

    def event(self, who: str | dict | None, action: str, at: dt.datetime, *, outcome: str = "success",
              ip: str = "10.0.0.1", country: str = "US", old=None, new=None, resource_type=None, resource_id=None):
        user = self.users[who] if isinstance(who, str) else who
        self.conn.execute(
            """INSERT INTO audit_logs (organization_id, actor_user_id, actor_email, action, resource_type, resource_id,
                                       outcome, ip_address, country, old_values, new_values, occurred_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (self.org, user["id"] if user else None, user["email"] if user else None, action, resource_type,
             resource_id, outcome, ip, country, json.dumps(old) if old is not None else None,
             json.dumps(new) if new is not None else None, at))

    def events(self, rule: str | None = None) -> list[dict]:
        from psycopg.rows import dict_row

        return self.conn.cursor(row_factory=dict_row).execute(
            "SELECT * FROM security_events WHERE (%s::text IS NULL OR rule = %s) ORDER BY id", (rule, rule)).fetchall()


@pytest.fixture
def audit(db) -> Audit:
    return Audit(db)
