"""Organizations in the seeded time zones and rows placed at local times, for the local-calendar tests
(tests/analytics/test_local_days.py, tests/billing/test_local_calendar.py). The expected local dates are
computed here with zoneinfo, independently of the SQL and dbt rule they check."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg

UTC = dt.UTC
ZONES = {"honolulu": "Pacific/Honolulu", "new_york": "America/New_York", "berlin": "Europe/Berlin", "utc": "UTC",
         "kolkata": "Asia/Kolkata", "tokyo": "Asia/Tokyo", "auckland": "Pacific/Auckland"}
_n = itertools.count()


def local(zone: str, text: str) -> dt.datetime:
    """'2026-03-08T23:30' on the wall clock of ``zone`` -> the aware UTC instant."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


class Calendar:
    """Writes organizations and their metered calls; remembers each row to compute the expected days."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.rows: list[tuple[uuid.UUID, dt.datetime, Decimal]] = []   # (org, recorded_at, call minutes)
        # org -> [(effective_from, zone, first_local_date)], oldest first: the zones in force (the oracle)
        self.zones: dict[uuid.UUID, list[tuple[dt.datetime, str, dt.date | None]]] = {}

    def org(self, zone: str, plan: str = "pro") -> uuid.UUID:
        org = uuid.uuid4()
        n = next(_n)
        self.conn.execute("INSERT INTO organizations (id, name, slug, plan, timezone, created_at) "
                          "VALUES (%s, %s, %s, %s, %s, '2025-01-01 00:00+00')",
                          (org, f"{zone} {n}", f"tz-org-{n}-{org.hex[:6]}", plan, zone))
        self.zones[org] = [(dt.datetime.min.replace(tzinfo=UTC), zone, None)]
        return org

    def moved(self, org: uuid.UUID, zone: str, changed_on: dt.date) -> None:
        """A change to ``zone`` made on local day ``changed_on``: it took effect at the start of the next local
        month (the next billing period)."""
        old = self.zones[org][-1][1]
        first = (changed_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        effective = dt.datetime.combine(first, dt.time(), tzinfo=ZoneInfo(old)).astimezone(UTC)
        # The trigger dates a change by the clock; a past change is written as the trigger would have.
        self.conn.execute("SET session_replication_role = replica")
        self.conn.execute("UPDATE organizations SET timezone = %s WHERE id = %s", (zone, org))
        self.conn.execute("RESET session_replication_role")
        self.conn.execute("INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, "
                          "first_local_date, changed_at) VALUES (%s, %s, %s, %s, %s)",
                          (org, zone, effective, first, dt.datetime.combine(changed_on, dt.time(12), tzinfo=UTC)))
        self.zones[org].append((effective, zone, first))

    def call(self, org: uuid.UUID, at: dt.datetime, minutes: int | str = 10) -> None:
        """A completed call starting at ``at``, its metered minutes and one priced AI event."""
        from auralink.billing.usage import record_usage

        call_id = uuid.uuid4()
        self.conn.execute("INSERT INTO calls (id, organization_id, status, started_at, ended_at, duration_seconds) "
                          "VALUES (%s, %s, 'completed', %s, %s, 600)", (call_id, org, at, at + dt.timedelta(minutes=10)))
        result = record_usage(self.conn, [{"organization_id": str(org), "metric": "call_minutes",
                                           "quantity": str(minutes), "recorded_at": at, "received_at": at,
                                           "idempotency_key": f"cal-{call_id}"}])
        assert result.inserted == 1, result
        self.conn.execute("INSERT INTO ai_usage (organization_id, call_id, feature, provider, model, unit_type, units, "
                          "cost_usd, occurred_at, received_at, idempotency_key) VALUES (%s, %s, 'stt', 'openai', "
                          "'whisper-1', 'minutes', 10, 0.06, %s, %s, %s)", (org, call_id, at, at, f"cal-ai-{call_id}"))
        self.rows.append((org, at, Decimal(str(minutes))))

    def local_date(self, org: uuid.UUID, at: dt.datetime) -> dt.date:
        """The oracle: the zone in force at ``at``; a new zone's first day starts when it takes effect."""
        _, zone, first = [z for z in self.zones[org] if z[0] <= at][-1]
        day = at.astimezone(ZoneInfo(zone)).date()
        return max(day, first) if first else day

    def expected_days(self, org: uuid.UUID) -> dict[dt.date, Decimal]:
        out: dict[dt.date, Decimal] = {}
        for o, at, minutes in self.rows:
            if o == org:
                day = self.local_date(o, at)
                out[day] = out.get(day, Decimal(0)) + minutes
        return out

    def expected_month(self, org: uuid.UUID, month: dt.date) -> Decimal:
        return sum((m for d, m in self.expected_days(org).items() if d.replace(day=1) == month), Decimal(0))
