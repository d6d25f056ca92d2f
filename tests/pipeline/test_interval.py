"""The one mapping from a run's trigger to the night it processes (auralink.jobs.interval)."""

from __future__ import annotations

import datetime as dt
import types

import pytest
from auralink.jobs.interval import (
    DataInterval,
    IntervalError,
    from_airflow_context,
    is_current,
    latest_night,
    night_before,
    resolve,
)

UTC = dt.UTC
D = dt.date(2026, 11, 20)


def test_a_day_is_its_utc_midnights():
    night = DataInterval.for_day(D)
    assert (night.start, night.end) == (dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 11, 21, tzinfo=UTC))
    assert night.day == D and night.is_day and str(night) == "2026-11-20"


@pytest.mark.parametrize("trigger", ["2026-11-21T02:00:00+00:00", "2026-11-21T00:00:00+00:00",
                                     "2026-11-21T23:59:59+00:00", "2026-11-21T09:00:00+07:00"])
def test_a_run_on_the_next_day_processes_the_day_before(trigger):
    assert night_before(dt.datetime.fromisoformat(trigger)) == DataInterval.for_day(D)


def test_resolve_prefers_the_date_then_the_scheduled_time_then_now():
    now = dt.datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert resolve("2026-11-14", "2026-11-21T02:00:00Z", now=now) == DataInterval.for_day(dt.date(2026, 11, 14))
    assert resolve("", "2026-11-21T02:00:00Z", now=now) == DataInterval.for_day(D)   # Argo's empty parameter
    assert resolve(None, None, now=now) == DataInterval.for_day(dt.date(2026, 11, 30)) == latest_night(now)


@pytest.mark.parametrize("date, when", [("2026-13-01", None), ("yesterday", None), (None, "soon")])
def test_bad_dates_are_usage_errors(date, when):
    with pytest.raises(IntervalError):
        resolve(date, when)
    assert issubclass(IntervalError, ValueError)  # the CLI prints one line and exits 2


def test_only_the_latest_night_is_current():
    now = dt.datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert is_current(DataInterval.for_day(dt.date(2026, 11, 30)), now)
    assert not is_current(DataInterval.for_day(dt.date(2026, 11, 29)), now)


def test_airflow_runs_map_to_the_day_before_their_trigger_with_either_timetable():
    trigger = dt.datetime(2026, 11, 21, 2, tzinfo=UTC)
    # CronTriggerTimetable (the DAGs' schedule): logical date == data interval end == trigger time.
    assert from_airflow_context({"logical_date": trigger, "data_interval_end": trigger}) == DataInterval.for_day(D)
    # A cron data-interval timetable: logical date is the interval's start, its end the trigger.
    assert from_airflow_context({"logical_date": trigger - dt.timedelta(days=1),
                                 "data_interval_end": trigger}) == DataInterval.for_day(D)
    # Airflow 3 manual runs may have no logical date: when they were asked for decides.
    run = types.SimpleNamespace(run_after=trigger, logical_date=None, data_interval_end=None)
    assert from_airflow_context({"logical_date": None, "dag_run": run}) == DataInterval.for_day(D)
