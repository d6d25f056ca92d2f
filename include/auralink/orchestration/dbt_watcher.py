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
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from asgiref.sync import sync_to_async
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.state import get_dbt_event_xcom_key, is_dbt_node_status_terminal
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger

TRIGGER_PATH = f"{__name__}.ConsumerStartTrigger"


class ConsumerStartTrigger(WatcherTrigger):
    """Cosmos's WatcherTrigger for a consumer started by the scheduler: the run it watches comes from the
    task instance the triggerer gives it (the DAG file names none), and its end is the task's end when
    no worker is needed."""

    dag_id: str
    run_id: str

    def __init__(self, model_unique_id: str, producer_task_id: str, poke_interval: float = 5.0,
                 is_test_sensor: bool = False, dag_id: str = "", run_id: str = "", map_index: int | None = -1,
                 **kwargs: Any) -> None:
        super().__init__(model_unique_id=model_unique_id, producer_task_id=producer_task_id, dag_id=dag_id,
                         run_id=run_id, map_index=map_index, poke_interval=poke_interval,
                         is_test_sensor=is_test_sensor, **kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, super().serialize()[1]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = getattr(self, "task_instance", None)
        if ti is not None:
            self.dag_id, self.run_id = self.dag_id or ti.dag_id, self.run_id or ti.run_id
        if ti is not None and (ti.try_number or 1) > 1:
            # A retry: the producer already reported this node; Cosmos's fallback runs it alone on a worker.
            yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})
            return
        async for event in super().run():
            status, reason = event.payload.get("status"), event.payload.get("reason")
            if status == EventStatus.SUCCESS and reason is None:
                await self._record("success")
                yield TaskSuccessEvent()
            elif status == EventStatus.SKIPPED:
                await self._record("skipped")
                yield TaskSkippedEvent()
            else:  # a failure, or a node the producer never reported: Cosmos's execute_complete decides
                yield event
            return

    async def _parse_dbt_node_status_and_compiled_sql(self) -> tuple[str | None, str | None]:
        # A test with several parents gets a task of its own (should_detach_multiple_parents_tests), a
        # test sensor named after the test itself. Cosmos looks for it under the key of a model's
        # aggregated tests, which never comes, so the task went to a worker as a node "not run". The
        # producer does publish the test's own dbt events (what Cosmos's worker then logs): its
        # NodeFinished carries the outcome.
        if self.is_test_sensor and self.model_unique_id.startswith("test."):
            event = await self.get_xcom_val(get_dbt_event_xcom_key(self.model_unique_id))
            status = event.get("status") if isinstance(event, dict) else None
            return (status if is_dbt_node_status_terminal(status) else None), None
        return await super()._parse_dbt_node_status_and_compiled_sql()

    async def _record(self, state: str) -> None:
        from auralink.orchestration import run_tracking

        ti = getattr(self, "task_instance", None)
        if ti is not None:
            await sync_to_async(run_tracking.record_task_event)(ti, state)


def start_in_triggerer(task: Any) -> None:
    """Make a Cosmos watcher consumer start in the triggerer (its deferral, without the worker process)."""
    from airflow.triggers.base import StartTriggerArgs

    # Cosmos's own poll interval: polling every 2 s instead made the night slower (the triggerer's and the
    # API server's polls took CPU from the dbt producer on a small machine).
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls=TRIGGER_PATH,
        trigger_kwargs={"model_unique_id": task.model_unique_id, "producer_task_id": task.producer_task_id,
                        "poke_interval": float(task.poke_interval), "is_test_sensor": bool(task.is_test_sensor)},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,  # the task's execution_timeout bounds the wait (Airflow takes the smaller)
    )
    task.start_from_trigger = True


def start_consumers_in_triggerer(group: Any) -> None:
    """Every watcher consumer of a Cosmos task group starts in the triggerer."""
    from cosmos.operators._watcher.base import BaseConsumerSensor

    for t in group.iter_tasks():
        if isinstance(t, BaseConsumerSensor) and t.deferrable:
            start_in_triggerer(t)
