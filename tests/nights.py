"""Nights for tests that need an exact "now": a job's "now" is its interval's end."""

from __future__ import annotations

import datetime as dt

from auralink.jobs.interval import DataInterval, parse_time


def ending(at: str | dt.datetime) -> DataInterval:
    """The day-long interval that ends at ``at`` (an ISO string or a datetime)."""
    return DataInterval.ending_at(parse_time(at) if isinstance(at, str) else at)
