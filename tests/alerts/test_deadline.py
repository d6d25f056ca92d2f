"""The nightly DAG's DeadlineAlert: a night unfinished by the configured hour alerts once."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from tests.alerts.test_send_alerts import channels  # noqa: F401 - the fixture

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_the_nightly_dag_has_a_deadline_at_the_configured_hour(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DeadlineReference
    from auralink.alerts.deadline import DeadlineConfigError, deadline_after_trigger

    monkeypatch.setenv("AURALINK_NIGHTLY_DEADLINE", "05:30")
    bag = DagBag(dag_folder=str(DAGS / "nightly.py"))
    assert bag.import_errors == {}
    (alert,) = bag.dags["nightly"].deadline
    # Queued-at: a scheduled night is queued at 02:00, so 3.5 h later is 05:30; a backfill gets 3.5 h too.
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT and alert.interval == dt.timedelta(hours=3, minutes=30)
    assert alert.callback.path == "auralink.alerts.deadline.night_unfinished"
    monkeypatch.delenv("AURALINK_NIGHTLY_DEADLINE")
    assert deadline_after_trigger("0 2 * * *") == dt.timedelta(hours=6)  # default 08:00
    monkeypatch.setenv("AURALINK_NIGHTLY_DEADLINE", "01:00")
    assert deadline_after_trigger("0 2 * * *") == dt.timedelta(hours=23)
    monkeypatch.setenv("AURALINK_NIGHTLY_DEADLINE", "off")
    assert deadline_after_trigger("0 2 * * *") is None
    monkeypatch.setenv("AURALINK_NIGHTLY_DEADLINE", "8am")
    with pytest.raises(DeadlineConfigError, match="AURALINK_NIGHTLY_DEADLINE"):
        deadline_after_trigger("0 2 * * *")


def test_a_missed_deadline_alerts_once(db_url, channels):  # noqa: F811
    from auralink.alerts.deadline import night_unfinished

    smtp, hook = channels
    context = {"dag_run": {"dag_id": "nightly", "dag_run_id": "scheduled__2026-11-21T02:00:00+00:00",
                           "logical_date": "2026-11-21T02:00:00Z"},
               "deadline": {"id": "d1", "deadline_time": "2026-11-21T08:00:00Z"}}
    first = asyncio.run(night_unfinished(context=context))
    assert first["sent"] == 2 and len(smtp.messages) == 1 and len(hook.requests) == 1, first
    assert "nightly run scheduled__2026-11-21T02:00:00+00:00 is still unfinished" in smtp.messages[0]["Subject"]
    assert hook.json_bodies()[0]["alert"]["kind"] == "night_unfinished"
    again = asyncio.run(night_unfinished(context=context))   # the triggerer retried the callback
    assert again["sent"] == 0 and len(smtp.messages) == 1 and len(hook.requests) == 1
