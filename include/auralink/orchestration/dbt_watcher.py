"""Cosmos's watcher consumers, started and (when their model succeeds) ended in the triggerer.

Cosmos's watcher runs one ``dbt build`` (the producer task) and gives each model and each model's tests a
sensor task that reports the outcome the producer saw. As Cosmos ships them, each sensor starts on a
worker only to defer to the triggerer, then comes back to a worker to finish: two task processes per
node, each parsing the DAG file, which on a small machine cost more than dbt itself.

With Airflow's ``start_from_trigger`` the scheduler hands a consumer straight to the triggerer
(:func:`start_in_triggerer`), and :class:`ConsumerStartTrigger` ends the task there when its node
succeeded or was skipped. A worker process is started only where Cosmos's own code must run: a failed
node (the task fails with Cosmos's message and is retried), a producer that failed or was skipped, and
a retry, which runs the node alone (Cosmos's fallback). The run-tracking listener sees no task process
for a task that ends in the triggerer, so the trigger records it there, as the listener would.

A consumer follows the build, not Airflow's scheduler (:func:`start_consumers_in_triggerer`). The producer
already runs the nodes in dbt's order, so a consumer whose upstream tasks are in the group starts with
the run (trigger rule ``always``, as Cosmos itself does for a ``DbtDag``'s root nodes) and waits in the
triggerer for the producer, then for its node. Chained
task by task instead, each model and each test waited a scheduler and triggerer round trip after the
one before it, for the whole depth of the graph, after the build itself had ended. The group's edges
stay (the graph, and clearing a task with its downstream), and Airflow's order still holds where it
matters: a retry, which runs the node alone, waits for its upstream tasks to succeed, and does not run
when one of them failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from asgiref.sync import sync_to_async
from cosmos.constants import _DBT_STARTUP_EVENTS_XCOM_KEY
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.state import (
    PRODUCER_FINAL_STATES,
    get_compiled_sql_xcom_key,
    get_dbt_event_xcom_key,
    is_dbt_node_status_failed,
    is_dbt_node_status_terminal,
)
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger
from cosmos.operators.watcher import DbtProducerWatcherOperator

TRIGGER_PATH = f"{__name__}.ConsumerStartTrigger"
# Producer states before it runs, and those in which it never will (its upstream failed or it was removed).
_PRODUCER_NOT_STARTED = frozenset({None, "none", "scheduled", "queued"})
_PRODUCER_WILL_NOT_RUN = frozenset({"upstream_failed", "removed"})
# Upstream states after which a task the scheduler orders (all_success) would not run.
_UPSTREAM_NOT_SUCCEEDED = frozenset({"failed", "upstream_failed", "skipped", "removed"})
# The triggers of one run share what they all read from the producer: they run in the triggerer's one
# event loop, and each read is a round trip through its supervisor to the API, one at a time, which the
# run's many triggers otherwise queue on (new triggers' starts behind them). The producer's state is
# read again after this many seconds; dbt's start-up events, once both have come, are read once.
PRODUCER_STATE_MAX_AGE = 1.0
_SHARED_FOR = 3600.0  # then forgotten: a run's triggers have long ended
_shared: dict[tuple[str, ...], tuple[float, Any]] = {}
_shared_locks: dict[tuple[str, ...], asyncio.Lock] = {}
# A trigger wakes this often, but reads its node's outcome only every poke_interval, or at once when the
# run's producer has ended (every outcome is there then): the last nodes' tasks end a moment after the
# build, not up to a poke interval later.
WAKE_INTERVAL = 1.0
# The debug-level events a node passes through before its NodeFinished.
_NODE_PROGRESS_EVENTS = frozenset({"NodeStart", "NodeCompiling", "NodeExecuting"})


class FinalEventProducer(DbtProducerWatcherOperator):
    """Cosmos's producer, publishing each node's final dbt event only.

    Cosmos pushes every event of a node to the node's one event XCom, each overwriting the one before, and
    only the last (NodeFinished) is ever read. Each push is a round trip to Airflow's API under one lock,
    which the build's threads wait on: the progress events were most of the producer's pushes. They are
    debug-level, so the producer's log loses nothing.
    """

    def _make_parse_callable(self) -> Callable[[str, Any], None]:
        parse = super()._make_parse_callable()

        def parse_unless_progress(line: str, extra_kwargs: Any) -> None:
            try:
                name = json.loads(line).get("info", {}).get("name")
            except (ValueError, AttributeError):
                name = None
            if name not in _NODE_PROGRESS_EVENTS:
                parse(line, extra_kwargs)

        return parse_unless_progress


class ConsumerStartTrigger(WatcherTrigger):
    """Cosmos's WatcherTrigger for a consumer started by the scheduler: the run it watches comes from the
    task instance the triggerer gives it (the DAG file names none), and its end is the task's end when
    no worker is needed."""

    dag_id: str
    run_id: str

    def __init__(self, model_unique_id: str, producer_task_id: str, poke_interval: float = 5.0,
                 is_test_sensor: bool = False, dag_id: str = "", run_id: str = "", map_index: int | None = -1,
                 upstream_task_ids: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(model_unique_id=model_unique_id, producer_task_id=producer_task_id, dag_id=dag_id,
                         run_id=run_id, map_index=map_index, poke_interval=poke_interval,
                         is_test_sensor=is_test_sensor, **kwargs)
        # The task's upstream tasks in the group, which the scheduler does not wait for (trigger rule always).
        self.upstream_task_ids = list(upstream_task_ids or [])
        self.read_interval = poke_interval
        self.poke_interval = min(poke_interval, WAKE_INTERVAL)  # Cosmos's loop sleeps this long
        self._outcome_read_at: float | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = super().serialize()[1]
        return TRIGGER_PATH, {**kwargs, "poke_interval": self.read_interval, "upstream_task_ids": self.upstream_task_ids}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = getattr(self, "task_instance", None)
        if ti is not None:
            self.dag_id, self.run_id = self.dag_id or ti.dag_id, self.run_id or ti.run_id
        # A first try reports what the producer saw; a retry skips to the end: the producer already
        # reported this node, and Cosmos's fallback runs it alone on a worker.
        if ti is None or (ti.try_number or 1) == 1:
            producer = await self._wait_for_the_producer()
            if producer in _PRODUCER_WILL_NOT_RUN:
                self.log.info("Not run: the dbt build %s is %s", self.producer_task_id, producer)
                await self._record("skipped")
                yield TaskSkippedEvent()
                return
            async for event in super().run():
                status, reason = event.payload.get("status"), event.payload.get("reason")
                if status == EventStatus.SUCCESS and reason is None:
                    await self._record("success")
                    yield TaskSuccessEvent()
                    return
                if status == EventStatus.SKIPPED:
                    await self._record("skipped")
                    yield TaskSkippedEvent()
                    return
                if reason != WatcherEventReason.PRODUCER_SKIPPED:
                    yield event  # a failure, or a node the producer never reported: Cosmos's execute_complete
                    return
        # The node runs alone on a worker: after its upstream tasks, as the scheduler would have ordered it.
        blocking = await self._wait_for_the_upstream_tasks()
        if blocking:
            self.log.info("Not run alone: upstream task %s is %s", *blocking)
            await self._record("skipped")
            yield TaskSkippedEvent()
            return
        yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})

    async def _get_producer_task_status(self) -> str | None:
        state: str | None = await self._shared_read("state", PRODUCER_STATE_MAX_AGE,
                                                    super()._get_producer_task_status)
        return state

    async def get_xcom_val(self, key: str) -> Any | None:
        if key != _DBT_STARTUP_EVENTS_XCOM_KEY:
            return await super().get_xcom_val(key)
        return await self._shared_read(key, _SHARED_FOR, lambda: super(ConsumerStartTrigger, self).get_xcom_val(key),
                                       keep=lambda events: len(events or []) >= 2)

    async def _shared_read(self, what: str, max_age: float, read: Callable[[], Awaitable[Any]],
                           keep: Callable[[Any], bool] = lambda _: True) -> Any:
        """``read()``, or what another trigger of this run read less than ``max_age`` seconds ago."""
        key = (self.dag_id, self.run_id, self.producer_task_id, what)
        async with _shared_locks.setdefault(key, asyncio.Lock()):
            now = time.monotonic()
            last = _shared.get(key)
            if last is not None and now - last[0] < max_age:
                return last[1]
            value = await read()
            for old in [k for k, (at, _) in _shared.items() if now - at > _SHARED_FOR]:
                _shared.pop(old)
                _shared_locks.pop(old, None)
            if keep(value):
                _shared[key] = (now, value)
            return value

    async def _wait_for_the_producer(self) -> str | None:
        """A task that started with the run waits for the build to start; returns the producer's state.
        A root task starts with the producer (the scheduler ordered it), so it does not wait."""
        if not self.upstream_task_ids:
            return None
        while (state := await self._get_producer_task_status()) in _PRODUCER_NOT_STARTED:
            await asyncio.sleep(self.poke_interval)
        return state

    async def _wait_for_the_upstream_tasks(self) -> tuple[str, str] | None:
        """Wait until the upstream tasks have ended; the first that did not succeed, with its state."""
        while self.upstream_task_ids:
            states = await self._task_states(self.upstream_task_ids)
            ended = {task_id: states.get(task_id) for task_id in self.upstream_task_ids}
            not_succeeded = [(task_id, str(s)) for task_id, s in ended.items() if s in _UPSTREAM_NOT_SUCCEEDED]
            if not_succeeded:
                return not_succeeded[0]
            if all(s == "success" for s in ended.values()):
                return None
            await asyncio.sleep(self.read_interval)
        return None

    async def _time_to_read_the_outcome(self) -> bool:
        now = time.monotonic()
        if (self._outcome_read_at is not None and now - self._outcome_read_at < self.read_interval
                and await self._get_producer_task_status() not in PRODUCER_FINAL_STATES):
            return False
        self._outcome_read_at = now
        return True

    async def _task_states(self, task_ids: list[str]) -> dict[str, str | None]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=self.dag_id, task_ids=task_ids, run_ids=[self.run_id])
        return {task_id: (str(s) if s is not None else None) for task_id, s in states.get(self.run_id, {}).items()}

    async def _parse_dbt_node_status_and_compiled_sql(self) -> tuple[str | None, str | None]:
        if not await self._time_to_read_the_outcome():
            return None, None
        # A test with several parents gets a task of its own (should_detach_multiple_parents_tests), a
        # test sensor named after the test itself. Cosmos looks for it under the key of a model's
        # aggregated tests, which never comes, so the task went to a worker as a node "not run". The
        # producer does publish the test's own dbt events (what Cosmos's worker then logs): its
        # NodeFinished carries the outcome.
        if self.is_test_sensor and self.model_unique_id.startswith("test."):
            event = await self.get_xcom_val(get_dbt_event_xcom_key(self.model_unique_id))
            status = event.get("status") if isinstance(event, dict) else None
            return (status if is_dbt_node_status_terminal(status) else None), None
        if self.is_test_sensor:
            return await super()._parse_dbt_node_status_and_compiled_sql()
        # A model's compiled SQL only goes where a worker shows it: a failed model's task. A success ends
        # in the triggerer.
        status = await self._get_node_status()
        failed = is_dbt_node_status_failed(status)
        return status, (await self.get_xcom_val(get_compiled_sql_xcom_key(self.model_unique_id)) if failed else None)

    async def _record(self, state: str) -> None:
        from auralink.orchestration import run_tracking

        ti = getattr(self, "task_instance", None)
        if ti is not None:
            await sync_to_async(run_tracking.record_task_event)(ti, state)


def start_in_triggerer(task: Any, upstream_task_ids: list[str] | None = None) -> None:
    """Make a Cosmos watcher consumer start in the triggerer (its deferral, without the worker process);
    ``upstream_task_ids`` are those its trigger waits for, where the scheduler does not."""
    from airflow.triggers.base import StartTriggerArgs

    # Cosmos's own poll interval: polling every 2 s instead made the night slower (the triggerer's and the
    # API server's polls took CPU from the dbt producer on a small machine).
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls=TRIGGER_PATH,
        trigger_kwargs={"model_unique_id": task.model_unique_id, "producer_task_id": task.producer_task_id,
                        "poke_interval": float(task.poke_interval), "is_test_sensor": bool(task.is_test_sensor),
                        "upstream_task_ids": list(upstream_task_ids or [])},
        next_method="execute_complete",
        next_kwargs=None,
        # No timeout: a trigger started from the scheduler gets none from execution_timeout, and it ends
        # when the producer does (or will not run); the producer's own execution_timeout bounds that.
        timeout=None,
    )
    task.start_from_trigger = True


def watch_only_the_tests_the_build_runs(group: Any) -> None:
    """Make a Cosmos watcher group's test tasks wait for the tests its producer runs, and for no other.

    Cosmos attaches every test of a rendered model to it, whatever the render's ``exclude`` says
    (``DbtGraph.update_node_dependency``), and counts a test with several parents among each parent's
    tests. The producer's ``dbt build`` honours the exclude, and a detached test (one with several
    parents) has a task of its own, so a model's aggregated test status waited for a test that never
    comes, or one that needs a model further down. Such a model's test task then stalled the models after
    it until the producer had ended, and went to a worker as a node "not run"; an excluded detached test
    had a task that showed green without running.

    Here each model's test task waits for its own single-parent tests that the build runs; a test the
    build excludes has no task, and its upstream tasks take its downstream ones.
    """
    from cosmos.constants import DbtResourceType
    from cosmos.dbt.selector import select_nodes

    graph = group.dbt_graph
    tests = {uid: node for uid, node in graph.filtered_nodes.items() if node.resource_type == DbtResourceType.TEST}
    # The render's exclude, applied to each test on its own: Cosmos's selector gives a test its first
    # parent's tags, but dbt matches the test's own (its config keeps them).
    alone = {uid: dataclasses.replace(node, depends_on=[], tags=list(node.config.get("tags") or []))
             for uid, node in tests.items()}
    built = set(select_nodes(graph.project_path, alone, [], graph.render_config.exclude))
    watched = {uid for uid, node in tests.items() if uid in built and len(node.depends_on) == 1}
    aggregates = {model: kept for model, uids in graph.tests_per_model.items()
                  if (kept := [uid for uid in uids if uid in watched])}
    for task in list(group.iter_tasks()):
        if isinstance(task, DbtProducerWatcherOperator):
            task.tests_per_model = aggregates
        elif getattr(task, "is_test_sensor", False):
            uid = task.model_unique_id
            if (uid in tests and uid not in built) or (uid not in tests and uid not in aggregates):
                _remove_task(task)


def publish_final_events_only(group: Any) -> None:
    """Make a Cosmos watcher group's producer a :class:`FinalEventProducer` (Cosmos builds it itself)."""
    for task in group.iter_tasks():
        if type(task) is DbtProducerWatcherOperator:
            task.__class__ = FinalEventProducer


def _remove_task(task: Any) -> None:
    """Take a task out of its DAG, its upstream tasks taking its downstream ones."""
    upstream, downstream = list(task.upstream_list), list(task.downstream_list)
    for other in upstream:
        other.downstream_task_ids.discard(task.task_id)
    for other in downstream:
        other.upstream_task_ids.discard(task.task_id)
    task.upstream_task_ids.clear()
    task.downstream_task_ids.clear()
    task.dag._remove_task(task.task_id)
    for before in upstream:
        before.set_downstream(downstream)


def start_consumers_in_triggerer(group: Any) -> None:
    """Every watcher consumer of a Cosmos task group starts in the triggerer; one with upstream tasks in the
    group starts with the run and follows the build (the module's docstring says why)."""
    from airflow.sdk import TriggerRule
    from cosmos.operators._watcher.base import BaseConsumerSensor

    in_group = {t.task_id for t in group.iter_tasks()}
    for t in group.iter_tasks():
        if isinstance(t, BaseConsumerSensor) and t.deferrable:
            upstream = sorted(t.upstream_task_ids & in_group)
            if upstream:
                t.trigger_rule = TriggerRule.ALWAYS
            start_in_triggerer(t, upstream)
