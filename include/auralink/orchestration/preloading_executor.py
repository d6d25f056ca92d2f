"""Airflow's LocalExecutor, with the job library's heavy imports loaded before it forks its workers.

On Linux the LocalExecutor forks its worker processes from the scheduler when it starts, and each task
process is forked from a worker. A module the scheduler has imported by then is already loaded in every
task process, for nothing. Otherwise each quality-gate task imports Great Expectations afresh, and each
dbt task imports dbt: seconds of CPU per task, on the night's critical path.

Set ``AIRFLOW__CORE__EXECUTOR=auralink.orchestration.preloading_executor.PreloadingLocalExecutor``
(the local Airflow and docker-compose do). Where workers are spawned rather than forked (macOS), it is
the plain LocalExecutor. A module that fails to import is logged and skipped: the task that needs it
then fails with the real error, as it would without preloading.
"""

from __future__ import annotations

import importlib
import logging

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

# What a task process would otherwise import itself. Each one is costly to import (Great Expectations
# most), and none starts a thread or opens a connection when imported, so forking afterwards is safe.
PRELOADED_MODULES = ("great_expectations", "dbt.cli.main", "auralink.pipeline")


def preload(modules: tuple[str, ...]) -> list[str]:
    """Import ``modules``; returns the ones that loaded."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optimization: the task reports the real error
            log.warning("not preloading %s for the task processes: %s", name, exc)
        else:
            loaded.append(name)
    return loaded


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose forked workers (and so their task processes) start with PRELOADED_MODULES."""

    def start(self) -> None:
        if self.is_mp_using_fork:
            log.info("preloaded for the task processes: %s", ", ".join(preload(PRELOADED_MODULES)))
        super().start()
