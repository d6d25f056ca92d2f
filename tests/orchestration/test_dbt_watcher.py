"""Cosmos's watcher consumers start in the triggerer and, when their node succeeded or was skipped, end
there (no worker process); a failure, a producer that never reported and a retry go back to a worker,
where Cosmos's own code fails the task or runs the node alone. The end in the triggerer is recorded by
run tracking in the real Postgres, as the listener records a task that ran on a worker.

The polling itself (XCom reads through Airflow's API) is Cosmos's, exercised by the end-to-end test
through a real scheduler and triggerer; here the node's status it would read is given."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from types import SimpleNamespace

import pytest
from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent
from auralink.orchestration.dbt_watcher import TRIGGER_PATH, ConsumerStartTrigger
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.triggerer import WatcherEventReason


def _ti(try_number: int = 1) -> SimpleNamespace:
    return SimpleNamespace(dag_id="nightly", run_id="scheduled__2026-11-30T02:00:00+00:00",
                           task_id="dbt_build.int_usage_daily.run", map_index=-1, try_number=try_number,
                           start_date=dt.datetime(2026, 11, 30, 2, 5, tzinfo=dt.UTC), end_date=None,
                           hostname="worker-1", operator="DbtRunWatcherOperator")


UPSTREAM = "dbt_build.stg_usage_records.test"


def _events(node_status: str | None, producer: str | list[str | None] = "running", try_number: int = 1,
            upstream: list[str | None] | None = None) -> tuple[list, ConsumerStartTrigger]:
    """The trigger's events for a node whose producer goes through the given states (the last one stays);
    with ``upstream``, the task follows the build, and its upstream task goes through those states."""
    trigger = ConsumerStartTrigger(model_unique_id="model.auralink.int_usage_daily",
                                   producer_task_id="dbt_build.dbt_producer_watcher", poke_interval=0.01,
                                   upstream_task_ids=[UPSTREAM] if upstream is not None else None)
    trigger.task_instance = _ti(try_number)
    producer_states = [producer] if isinstance(producer, str) else list(producer)
    upstream_states = list(upstream or [])

    async def no_startup_log() -> None:
        return None

    async def producer_state() -> str | None:
        return producer_states.pop(0) if len(producer_states) > 1 else producer_states[0]

    async def task_states(task_ids: list[str]) -> dict[str, str | None]:
        assert task_ids == [UPSTREAM]
        return {UPSTREAM: upstream_states.pop(0) if len(upstream_states) > 1 else upstream_states[0]}

    async def node() -> tuple[str | None, str | None]:
        return node_status, "select 1"

    trigger._log_startup_events = no_startup_log
    trigger._get_producer_task_status = producer_state
    trigger._parse_dbt_node_status_and_compiled_sql = node
    trigger._task_states = task_states

    async def collect() -> list:
        return [e async for e in trigger.run()]

    return asyncio.run(collect()), trigger


def test_the_trigger_serializes_under_its_own_path_and_reads_the_run_from_the_task_instance():
    path, kwargs = ConsumerStartTrigger("model.auralink.x", "dbt_build.dbt_producer_watcher",
                                        upstream_task_ids=[UPSTREAM]).serialize()
    assert path == TRIGGER_PATH
    again = ConsumerStartTrigger(**kwargs)
    assert (again.model_unique_id, again.upstream_task_ids) == ("model.auralink.x", [UPSTREAM])
    _, trigger = _events("success")
    assert (trigger.dag_id, trigger.run_id) == ("nightly", "scheduled__2026-11-30T02:00:00+00:00")


def test_a_successful_node_ends_its_task_in_the_triggerer_and_is_tracked(db_url, db, airflow_db):
    from auralink.orchestration import run_tracking

    run_tracking.reset()
    events, _ = _events("success")
    assert [type(e) for e in events] == [TaskSuccessEvent]
    row = db.execute("SELECT task_id, try_number, state, hostname, started_at FROM airflow_task_runs").fetchone()
    assert row[:4] == ("dbt_build.int_usage_daily.run", 1, "success", "worker-1") and row[4] is not None


def test_a_skipped_node_ends_its_task_skipped(db_url, airflow_db):
    events, _ = _events("skipped")
    assert [type(e) for e in events] == [TaskSkippedEvent]


@pytest.mark.parametrize(("node_status", "producer", "reason"), [
    ("fail", "running", WatcherEventReason.NODE_FAILED),        # Cosmos fails the task with its message
    (None, "failed", WatcherEventReason.PRODUCER_FAILED),
    (None, "success", WatcherEventReason.NODE_NOT_RUN),         # Cosmos logs why there is nothing to report
])
def test_what_needs_cosmos_goes_back_to_a_worker(node_status, producer, reason):
    events, _ = _events(node_status, producer)
    assert len(events) == 1 and not isinstance(events[0], (TaskSuccessEvent, TaskSkippedEvent))
    assert events[0].payload["reason"] == reason


def test_a_retry_goes_to_a_worker_at_once_to_run_the_node_alone():
    events, _ = _events("fail", try_number=2)
    assert [e.payload for e in events] == [{"status": EventStatus.FAILED,
                                           "reason": WatcherEventReason.PRODUCER_SKIPPED}]


@pytest.mark.parametrize(("unique_id", "key", "value", "status"), [
    # a test with several parents, in a task of its own: the outcome of the test's own NodeFinished
    ("test.auralink.relationships_x", "test__auralink__relationships_x_dbt_event", {"status": "pass"}, "pass"),
    ("test.auralink.relationships_x", "test__auralink__relationships_x_dbt_event", {"status": "fail"}, "fail"),
    ("test.auralink.relationships_x", "test__auralink__relationships_x_dbt_event", {"status": None}, None),  # running
    ("test.auralink.relationships_x", "test__auralink__relationships_x_dbt_event", None, None),  # not yet started
    # a model's tests: the aggregate Cosmos's producer pushes once they have all reported
    ("model.auralink.fct_call_quality", "model__auralink__fct_call_quality_tests_status", "pass", "pass"),
])
def test_a_test_task_reads_the_outcome_the_producer_gives_it(unique_id, key, value, status):
    trigger = ConsumerStartTrigger(model_unique_id=unique_id, producer_task_id="dbt_build.dbt_producer_watcher",
                                   is_test_sensor=True)
    asked: list[str] = []

    async def xcom(k: str):
        asked.append(k)
        return value

    trigger.get_xcom_val = xcom
    assert asyncio.run(trigger._parse_dbt_node_status_and_compiled_sql()) == (status, None)
    assert asked == [key]


def test_a_task_that_follows_the_build_waits_for_the_producer_to_start(db_url, airflow_db):
    events, _ = _events("success", producer=[None, "scheduled", "queued", "running"], upstream=["running"])
    assert [type(e) for e in events] == [TaskSuccessEvent]


@pytest.mark.parametrize("producer", ["upstream_failed", "removed"])
def test_a_task_that_follows_a_build_that_will_not_run_ends_skipped_and_is_tracked(producer, db, airflow_db):
    from auralink.orchestration import run_tracking

    run_tracking.reset()
    events, _ = _events(None, producer=[None, producer], upstream=[None])
    assert [type(e) for e in events] == [TaskSkippedEvent]
    assert db.execute("SELECT state FROM airflow_task_runs").fetchall() == [("skipped",)]


@pytest.mark.parametrize("try_number", [1, 2])
def test_a_node_run_alone_waits_for_its_upstream_task_to_succeed(try_number):
    # try 1: the producer was skipped (its retry), so Cosmos runs each node alone; try 2: a retry
    events, _ = _events(None, producer="skipped", try_number=try_number,
                        upstream=["up_for_retry", "running", "success"])
    assert [e.payload for e in events] == [{"status": EventStatus.FAILED,
                                           "reason": WatcherEventReason.PRODUCER_SKIPPED}]


@pytest.mark.parametrize("upstream", ["failed", "upstream_failed", "skipped"])
def test_a_node_is_not_run_alone_after_an_upstream_task_that_did_not_succeed(upstream, airflow_db, db_url):
    events, _ = _events("fail", try_number=2, upstream=["running", upstream])
    assert [type(e) for e in events] == [TaskSkippedEvent]


def test_the_producer_publishes_each_nodes_final_event_not_its_progress(monkeypatch):
    from auralink.orchestration.dbt_watcher import FinalEventProducer
    from cosmos.operators.watcher import DbtProducerWatcherOperator

    parsed: list[str] = []
    monkeypatch.setattr(DbtProducerWatcherOperator, "_make_parse_callable",
                        lambda self: lambda line, extra: parsed.append(line if line.startswith("not") else json.loads(line)["info"]["name"]))
    parse = FinalEventProducer._make_parse_callable(FinalEventProducer.__new__(FinalEventProducer))
    for name in ("MainReportVersion", "NodeStart", "NodeCompiling", "NodeExecuting", "LogStartLine",
                 "NodeFinished", "RunResultError"):
        parse(json.dumps({"info": {"name": name}, "data": {}}), {})
    parse("not json: a line some library printed", {})
    assert parsed == ["MainReportVersion", "LogStartLine", "NodeFinished", "RunResultError",
                      "not json: a line some library printed"]  # Cosmos surfaces it in the log


def test_the_triggers_of_a_run_share_one_read_of_the_producers_state(monkeypatch):
    from auralink.orchestration import dbt_watcher
    from cosmos.operators._watcher.triggerer import WatcherTrigger

    reads: list[str] = []

    async def read(self) -> str:
        reads.append(self.run_id)
        await asyncio.sleep(0.01)
        return "running"

    monkeypatch.setattr(WatcherTrigger, "_get_producer_task_status", read)
    monkeypatch.setattr(dbt_watcher, "PRODUCER_STATE_MAX_AGE", 60.0)

    def trigger(model: str, run_id: str) -> ConsumerStartTrigger:
        return ConsumerStartTrigger(model_unique_id=model, producer_task_id="dbt_build.dbt_producer_watcher",
                                    dag_id="nightly", run_id=run_id)

    async def states() -> list:
        same_run = [trigger(f"model.auralink.m{i}", "run-a") for i in range(5)]
        return await asyncio.gather(*(t._get_producer_task_status() for t in [*same_run, trigger("x", "run-b")]))

    assert asyncio.run(states()) == ["running"] * 6
    assert sorted(reads) == ["run-a", "run-b"]  # one read per run, not per trigger
    monkeypatch.setattr(dbt_watcher, "PRODUCER_STATE_MAX_AGE", 0.0)
    asyncio.run(trigger("model.auralink.m0", "run-a")._get_producer_task_status())
    assert len(reads) == 3  # an old read is read again


def test_the_triggers_of_a_run_read_dbts_start_up_events_once_both_have_come(monkeypatch):
    from cosmos.operators._watcher.triggerer import WatcherTrigger

    published = [[{"name": "MainReportVersion"}], [{"name": "MainReportVersion"}, {"name": "AdapterRegistered"}]]
    reads: list[str] = []

    async def xcom(self, key: str):
        reads.append(key)
        return published[min(len(reads), 2) - 1] if key == "dbt_startup_events" else None

    monkeypatch.setattr(WatcherTrigger, "get_xcom_val", xcom)

    def trigger(model: str) -> ConsumerStartTrigger:
        return ConsumerStartTrigger(model_unique_id=model, producer_task_id="dbt_build.dbt_producer_watcher",
                                    dag_id="nightly", run_id="run-startup")

    async def read_all() -> list:
        return [await trigger(f"model.auralink.m{i}").get_xcom_val("dbt_startup_events") for i in range(4)]

    values = asyncio.run(read_all())
    assert [len(v) for v in values] == [1, 2, 2, 2]  # one event only: read again; both: shared
    assert reads == ["dbt_startup_events", "dbt_startup_events"]


@pytest.mark.parametrize(("status", "asked"), [
    ("success", ["model__auralink__m_status"]),
    ("error", ["model__auralink__m_status", "model__auralink__m_compiled_sql"]),
])
def test_a_model_task_reads_its_compiled_sql_only_when_it_failed(status, asked):
    trigger = ConsumerStartTrigger(model_unique_id="model.auralink.m", producer_task_id="dbt_build.dbt_producer_watcher")
    keys: list[str] = []

    async def xcom(key: str):
        keys.append(key)
        return {"status": status, "outlet_uris": []} if key.endswith("_status") else "select 1"

    trigger.get_xcom_val = xcom
    got = asyncio.run(trigger._parse_dbt_node_status_and_compiled_sql())
    assert got == (status, "select 1" if status == "error" else None) and keys == asked


def test_a_trigger_reads_its_nodes_outcome_each_poke_interval_or_as_soon_as_the_build_ends(monkeypatch):
    from auralink.orchestration import dbt_watcher

    trigger = ConsumerStartTrigger(model_unique_id="model.auralink.m", producer_task_id="dbt_build.dbt_producer_watcher",
                                   poke_interval=10.0)
    assert trigger.poke_interval == dbt_watcher.WAKE_INTERVAL  # how often Cosmos's loop wakes it
    assert trigger.serialize()[1]["poke_interval"] == 10.0
    producer = ["running"]
    reads: list[str] = []

    async def producer_state() -> str:
        return producer[0]

    async def xcom(key: str):
        reads.append(key)

    trigger._get_producer_task_status = producer_state
    trigger.get_xcom_val = xcom

    async def wake() -> None:
        await trigger._parse_dbt_node_status_and_compiled_sql()

    asyncio.run(wake())
    asyncio.run(wake())  # a second later: not yet
    assert len(reads) == 1
    producer[0] = "success"
    asyncio.run(wake())  # the build has ended: read now
    assert len(reads) == 2
