"""GDPR Art. 12(3) deadlines: one calendar month from receipt, extendable once by two further months.

"One month" is the same day number in the next month, or that month's last day when it has no such
day (received 31 January -> due 28/29 February). Times of day are kept.
"""

from __future__ import annotations

import calendar
import datetime as dt

EXTENSION_MONTHS = 2


def add_months(when: dt.datetime | dt.date, months: int):
    """``when`` plus calendar months, clamped to the target month's last day."""
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def due_date(received_at: dt.datetime) -> dt.datetime:
    """When a request received at ``received_at`` must be answered."""
    return add_months(received_at, 1)


def extended_due_date(due_at: dt.datetime) -> dt.datetime:
    """The deadline after the one permitted extension (two further months)."""
    return add_months(due_at, EXTENSION_MONTHS)


def effective_due(due_at: dt.datetime, extended_due_at: dt.datetime | None) -> dt.datetime:
    return extended_due_at or due_at


def is_overdue(due_at: dt.datetime, extended_due_at: dt.datetime | None, status: str, now: dt.datetime) -> bool:
    return status in ("pending", "in_progress") and effective_due(due_at, extended_due_at) < now
