"""Fixtures for the Airflow glue: the run-tracking listener registered in this process, and dag.test() of
a DAG written to a file (dag.test() needs the DAG serialized in the metadata DB)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def run_tracking_listener():
    """The listener registered with both of Airflow's listener managers, as the plugin does in a real
    deployment: the core one (DAG-run hooks, called by DagRun.update_state) and the task SDK's (task
    hooks, called in the task process; dag.test() runs tasks in this one)."""
    from airflow.listeners.listener import get_listener_manager
    from airflow.sdk.listener import get_listener_manager as task_listener_manager
    from auralink.orchestration import run_tracking

    added = []
    for manager in (get_listener_manager(), task_listener_manager()):
        if not manager.pm.is_registered(run_tracking):
            manager.add_listener(run_tracking)
            added.append(manager)
    run_tracking.reset()
    yield run_tracking
    for manager in added:
        manager.pm.unregister(run_tracking)
    run_tracking.reset()


@pytest.fixture
def run_dag_file(airflow_db, tmp_path: Path):
    """run_dag_file(source, dag_id, **test_kwargs) -> the DagRun of dag.test()."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    def run(source: str, dag_id: str, **kwargs):
        DagBundlesManager().sync_bundles_to_db()
        folder = tmp_path / dag_id
        folder.mkdir()
        (folder / f"{dag_id}.py").write_text(source)
        bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")
        assert bag.import_errors == {}
        sync_bag_to_db(bag, "dags-folder", None)
        return bag.get_dag(dag_id).test(**kwargs)

    return run
