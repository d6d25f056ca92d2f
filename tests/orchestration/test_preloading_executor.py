"""The LocalExecutor the local Airflow and docker-compose run: it imports the job library's heavy modules
before it forks its workers, so each task process (forked from a worker) starts with them loaded."""

from __future__ import annotations

import os
import sys

import pytest
from airflow.executors.executor_loader import ExecutorLoader
from airflow.executors.executor_utils import ExecutorName
from airflow.executors.local_executor import LocalExecutor
from auralink.orchestration import preloading_executor as pe
from auralink.orchestration.local_airflow import PRELOADING_EXECUTOR


def test_airflow_loads_it_by_its_path_as_a_local_executor():
    cls = ExecutorLoader.import_executor_cls(ExecutorName(module_path=PRELOADING_EXECUTOR))[0]
    assert cls is pe.PreloadingLocalExecutor and issubclass(cls, LocalExecutor) and cls.is_local


def test_a_module_that_fails_to_import_is_skipped_not_fatal(caplog):
    assert pe.preload(("json", "auralink.no_such_module")) == ["json"]
    assert "auralink.no_such_module" in caplog.text


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked (so preloaded) on Linux")
def test_its_forked_workers_start_with_the_modules_loaded(monkeypatch, tmp_path):
    """A worker process forked by start() has the preloaded modules before it runs any task."""
    marker = tmp_path / "worker-modules"
    module = tmp_path / "auralink_preload_probe.py"
    module.write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pe, "PRELOADED_MODULES", ("auralink_preload_probe",))

    def fake_worker(**_kwargs):  # what the worker sees when it starts
        marker.write_text(str("auralink_preload_probe" in sys.modules))
        os._exit(0)

    monkeypatch.setattr("airflow.executors.local_executor._run_worker", fake_worker)
    executor = pe.PreloadingLocalExecutor(parallelism=1)
    assert executor.is_mp_using_fork
    sys.modules.pop("auralink_preload_probe", None)
    executor.start()
    for proc in executor.workers.values():
        proc.join(timeout=30)
    assert marker.read_text() == "True"

