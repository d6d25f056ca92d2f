"""Every DAG file imports cleanly and follows the house rules (retries, timeouts, failure alerts, docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
EXPECTED = {"nightly", "call_recording_processing"}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dag_bag.import_errors.items())


def test_expected_dags_are_there(dag_bag):
    assert EXPECTED <= set(dag_bag.dag_ids)


def test_every_dag_file_defines_a_dag(dag_bag):
    files = {p.resolve() for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_")}
    loaded = {Path(d.fileloc).resolve() for d in dag_bag.dags.values()}
    assert files <= loaded, f"files without a DAG: {sorted(str(f) for f in files - loaded)}"


def test_the_job_graph_is_valid():
    from auralink.jobs import graph

    graph.validate()


def test_house_rules(dag_bag):
    for dag_id, dag in dag_bag.dags.items():
        assert dag.doc_md, f"{dag_id}: doc_md missing"
        assert dag.tags, f"{dag_id}: tags missing"
        assert dag.catchup is False, f"{dag_id}: catchup must be off"
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if task.task_type in ("EmptyOperator",) or task.task_id.endswith(("_start", "_end")):
                continue
            assert task.retries >= 1, f"{where}: no retries"
            assert task.execution_timeout is not None, f"{where}: no execution_timeout"
            assert task.on_failure_callback, f"{where}: no failure callback"
