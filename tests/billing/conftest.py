"""Billing test data: organizations, subscriptions and usage inserted plainly."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest

_n = itertools.count()


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


JAN_1 = utc(2026, 1, 1)


class Billing:
    def __init__(self, conn):
        self.conn = conn

    def org(self, plan: str = "pro", *, created: dt.datetime = JAN_1, subscriptions=None) -> uuid.UUID:
        """An organization with its subscriptions: [(plan, started_at, ended_at)] (default: plan since created)."""
        org = uuid.uuid4()
        n = next(_n)
        self.conn.execute("INSERT INTO organizations (id, name, slug, plan, created_at) VALUES (%s, %s, %s, %s, %s)",
                          (org, f"Org {n}", f"org-{n}", plan, created))
        for sub_plan, start, end in subscriptions or [(plan, created, None)]:
            self.conn.execute(
                "INSERT INTO subscriptions (organization_id, plan, status, started_at, ended_at) VALUES (%s, %s, %s, %s, %s)",
                (org, sub_plan, "active" if end is None else "canceled", start, end))
        return org

    def usage(self, org, metric: str, quantity, at: dt.datetime, *, received: dt.datetime | None = None,
              key: str | None = None):
        from auralink.billing.usage import record_usage

        return record_usage(self.conn, [{"organization_id": str(org), "metric": metric, "quantity": str(quantity),
                                         "recorded_at": at, "received_at": received or at,
                                         "idempotency_key": key or f"k-{uuid.uuid4()}"}])

    def costs(self, org, month: dt.date) -> dict:
        from psycopg.rows import dict_row

        return self.conn.cursor(row_factory=dict_row).execute(
            "SELECT * FROM calculate_monthly_costs(%s, %s)", (org, month)).fetchone()


@pytest.fixture
def billing(db) -> Billing:
    return Billing(db)
