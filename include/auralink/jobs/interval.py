"""The night's data interval: the one mapping from a run's trigger to what it processes.

A nightly run processes one UTC day, ``[D 00:00, D+1 00:00)``. Every orchestrator maps its run to that
day here and nowhere else:

* Airflow schedules the nightly DAG with ``0 2 * * *``, a ``CronTriggerTimetable`` whose logical date is
  the trigger time (its data interval has no width): a run triggered at ``D+1 02:00`` processes day D.
* Argo's nightly passes the workflow's creation time (the cron's scheduled time) or an explicit date.
* The CLI takes ``--date D``; without it, the day that ended last midnight UTC.

"As of now" inside a job means the interval's end, so re-running a past night is reproducible.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

UTC = dt.UTC
DAY = dt.timedelta(days=1)


class IntervalError(ValueError):
    """A date or time that names no interval (a usage error)."""


@dataclass(frozen=True)
class DataInterval:
    """``[start, end)``, both aware UTC datetimes."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise IntervalError("interval bounds must be timezone-aware")
        if self.end < self.start:
            raise IntervalError(f"interval ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def for_day(cls, day: dt.date) -> DataInterval:
        start = dt.datetime.combine(day, dt.time(), tzinfo=UTC)
        return cls(start, start + DAY)

    @classmethod
    def ending_at(cls, end: dt.datetime, width: dt.timedelta = DAY) -> DataInterval:
        """An interval of ``width`` ending at ``end`` (tests and ad-hoc runs that need an exact "now")."""
        end = _aware(end)
        return cls(end - width, end)

    @property
    def day(self) -> dt.date:
        """The (last) UTC day the interval covers: the night's date."""
        return (self.end - dt.timedelta(microseconds=1)).astimezone(UTC).date()

    @property
    def is_day(self) -> bool:
        return self.end - self.start == DAY and self.start == dt.datetime.combine(self.start.date(), dt.time(),
                                                                                  tzinfo=UTC)

    def as_dict(self) -> dict[str, str]:
        return {"interval_start": self.start.isoformat(), "interval_end": self.end.isoformat()}

    def __str__(self) -> str:
        if self.is_day:
            return self.day.isoformat()
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _aware(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def night_before(trigger: dt.datetime) -> DataInterval:
    """The UTC day that ended at or before ``trigger``: a run at D+1 02:00 (or any time on D+1) processes D."""
    return DataInterval.for_day(_aware(trigger).date() - DAY)


def latest_night(now: dt.datetime | None = None) -> DataInterval:
    """The interval that ended last midnight UTC: the current night."""
    return night_before(now or dt.datetime.now(UTC))


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise IntervalError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parse_time(text: str) -> dt.datetime:
    value = text.strip()
    if value.endswith("Z"):  # Argo's RFC 3339 timestamps; fromisoformat reads "Z" only from 3.11 on, be explicit
        value = value[:-1] + "+00:00"
    try:
        return _aware(dt.datetime.fromisoformat(value))
    except ValueError:
        raise IntervalError(f"not a timestamp (RFC 3339): {text!r}") from None


def resolve(date: str | dt.date | None = None, scheduled_time: str | dt.datetime | None = None,
            now: dt.datetime | None = None) -> DataInterval:
    """The interval a run processes: the day ``date`` if given, else the night before ``scheduled_time``,
    else the current night. Empty strings count as unset (Argo passes ``''`` for an unset parameter)."""
    if isinstance(date, str):
        date = parse_date(date) if date.strip() else None
    if date is not None:
        return DataInterval.for_day(date)
    if isinstance(scheduled_time, str):
        scheduled_time = parse_time(scheduled_time) if scheduled_time.strip() else None
    if scheduled_time is not None:
        return night_before(scheduled_time)
    return latest_night(now)


def is_current(interval: DataInterval, now: dt.datetime | None = None) -> bool:
    """True for the current night (or a later one): what current-only jobs run for."""
    return interval.end >= latest_night(now).end


def from_airflow_context(context: Any) -> DataInterval:
    """The night of an Airflow run: the day before its trigger time.

    The trigger is the data interval's end: with ``CronTriggerTimetable`` (the DAGs' schedule) it equals
    the logical date, and with a cron data-interval timetable it is still the time the run was due.
    Manual runs in Airflow 3 may have no logical date; their ``run_after`` is when they were asked for.
    """
    trigger = context.get("data_interval_end") or context.get("logical_date")
    if trigger is None:
        dag_run = context.get("dag_run")
        trigger = (getattr(dag_run, "data_interval_end", None) or getattr(dag_run, "logical_date", None)
                   or getattr(dag_run, "run_after", None))
    if trigger is None:
        raise IntervalError("the Airflow context has neither a logical date nor run_after")
    return night_before(trigger)
