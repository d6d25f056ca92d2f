"""The run-tracking listener: real dag.test() runs against the real Postgres record one airflow_dag_runs row
and one airflow_task_runs row per task try; repeated events upsert; a missing or unreachable database
never fails a task; Airflow's plugins manager finds the plugin in plugins/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from tests.conftest import ROOT

OUTCOMES_DAG = """
import datetime as dt
import os
from pathlib import Path

from airflow.sdk import dag, task


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     default_args={"retries": 0, "retry_delay": dt.timedelta(0)})
def tracked_outcomes():
    @task
    def ok() -> int:
        return 1

    @task(retries=1)
    def flaky() -> int:
        marker = Path(os.environ["FLAKY_MARKER"])
        if not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("first try fails")
        return 2

    @task
    def boom(x: int) -> None:
        raise ValueError("boom: postgresql://etl:hunter2@db.internal/auralink is down")

    @task
    def double(n: int) -> int:
        return 2 * n

    ok()
    flaky()
    boom(1)
    double.expand(n=[1, 2])


tracked_outcomes()
"""

ONE_TASK_DAG = """
import datetime as dt

from airflow.sdk import dag, task


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False)
def tracked_single():
    @task
    def only() -> str:
        return "done"

    only()


tracked_single()
"""


def _task_rows(db: psycopg.Connection) -> dict[tuple[str, int, int], tuple]:
    rows = db.execute(
        """SELECT task_id, map_index, try_number, state, started_at, finished_at, duration_seconds, hostname,
                  operator, error
           FROM airflow_task_runs WHERE dag_id = 'tracked_outcomes'""").fetchall()
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


@pytest.mark.slow
def test_a_run_and_every_task_try_are_recorded_and_redelivery_upserts(
        db_url, db, run_tracking_listener, run_dag_file, tmp_path, monkeypatch):
    monkeypatch.setenv("FLAKY_MARKER", str(tmp_path / "flaky.marker"))
    run = run_dag_file(OUTCOMES_DAG, "tracked_outcomes")
    assert str(run.state).endswith("failed")

    runs = db.execute(
        """SELECT dag_id, run_id, state, started_at, finished_at, duration_seconds, try_number, run_type, error
           FROM airflow_dag_runs""").fetchall()
    assert len(runs) == 1
    dag_id, run_id, state, started, finished, duration, try_number, run_type, error = runs[0]
    assert (dag_id, run_id, state, try_number, run_type) == ("tracked_outcomes", run.run_id, "failed", 1, "manual")
    assert started is not None and finished >= started and duration >= 0
    assert "failed tasks: boom (try 1): ValueError: boom" in error
    assert "hunter2" not in error and "etl:***@db.internal" in error  # passwords in messages are redacted

    tasks = _task_rows(db)
    assert {k: v[0] for k, v in tasks.items()} == {
        ("ok", -1, 1): "success",
        ("flaky", -1, 1): "up_for_retry", ("flaky", -1, 2): "success",
        ("boom", -1, 1): "failed",
        ("double", 0, 1): "success", ("double", 1, 1): "success",
    }
    for (task_id, _, _), (_, t_start, t_end, t_duration, hostname, operator, t_error) in tasks.items():
        assert t_start is not None and t_end >= t_start and t_duration >= 0, task_id
        assert hostname and operator, task_id
    assert tasks[("flaky", -1, 1)][6] == "RuntimeError: first try fails"
    assert tasks[("boom", -1, 1)][6].startswith("ValueError: boom: postgresql://etl:***@db.internal")
    assert tasks[("ok", -1, 1)][6] is None

    # Events delivered again (Airflow's own task instances and run, as the api-server would pass them)
    # update the same rows: no duplicate, and a late "running" never reopens a finished try.
    before = db.execute("SELECT count(*), max(updated_at) FROM airflow_task_runs").fetchone()
    listener = run_tracking_listener
    for ti in run.get_task_instances():
        listener.on_task_instance_running(previous_state=None, task_instance=ti)
        if str(ti.state).endswith("success"):
            listener.on_task_instance_success(previous_state=None, task_instance=ti)
    listener.on_dag_run_failed(dag_run=run, msg="task_failure")
    after = db.execute("SELECT count(*), max(updated_at) FROM airflow_task_runs").fetchone()
    assert after[0] == before[0] and after[1] > before[1]
    assert {k: v[0] for k, v in _task_rows(db).items()} == {k: v[0] for k, v in tasks.items()}
    assert db.execute("SELECT count(*), min(state) FROM airflow_dag_runs").fetchone() == (1, "failed")


@pytest.mark.slow
def test_without_the_migration_the_task_still_succeeds(make_database, monkeypatch, run_tracking_listener,
                                                       run_dag_file):
    url = make_database("empty")
    monkeypatch.setenv("DATABASE_URL", url)
    run = run_dag_file(ONE_TASK_DAG, "tracked_single")
    assert str(run.state).endswith("success")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('airflow_task_runs')").fetchone() == (None,)


class SilentServer:
    """Accepts TCP connections and never answers: a database host that hangs (the worst case)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["refused", "hanging"])
def test_with_the_database_unreachable_tasks_succeed_and_hooks_return(
        where, silent_server, monkeypatch, run_tracking_listener, run_dag_file, capsys):
    port = _free_port() if where == "refused" else silent_server.port
    monkeypatch.setenv("DATABASE_URL", f"postgresql://etl:s3cret@127.0.0.1:{port}/auralink")

    started = time.perf_counter()
    run = run_dag_file(ONE_TASK_DAG, "tracked_single")
    elapsed = time.perf_counter() - started
    assert str(run.state).endswith("success")

    # The hooks themselves, on Airflow's own objects: the first pays the connect timeout at most, the
    # following ones are skipped while the database is backed off.
    listener = run_tracking_listener
    listener.reset()
    ti = run.get_task_instances()[0]
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        listener.on_task_instance_success(previous_state=None, task_instance=ti)
        listener.on_dag_run_success(dag_run=run, msg="success")
        timings.append(time.perf_counter() - t0)
    out = capsys.readouterr()
    assert "s3cret" not in out.out + out.err
    with capsys.disabled():
        print(f"\n[{where}] dag.test() {elapsed:.2f} s; two hooks per round: "
              + ", ".join(f"{t * 1000:.1f} ms" for t in timings))
    assert timings[0] < 10 and sum(timings[1:]) < 10  # generous bounds: returns, never hangs


def test_plugins_manager_discovers_the_plugin_and_registers_the_listener(tmp_path):
    """In a fresh interpreter, as a scheduler or task process starts: AIRFLOW__CORE__PLUGINS_FOLDER=plugins/."""
    script = """
import json
from airflow import plugins_manager
from airflow.listeners.listener import get_listener_manager
from airflow.sdk.listener import get_listener_manager as task_listener_manager
from auralink.orchestration import run_tracking

plugins, errors = plugins_manager._get_plugins()
core, task = get_listener_manager(), task_listener_manager()
print(json.dumps({
    "plugins": [p.name for p in plugins], "errors": errors,
    "core": core.pm.is_registered(run_tracking), "task": task.pm.is_registered(run_tracking),
    "core_hooks": sorted(name for name in ("on_dag_run_running", "on_dag_run_success", "on_dag_run_failed")
                         if any(i.plugin is run_tracking for i in getattr(core.hook, name).get_hookimpls())),
    "task_hooks": sorted(name for name in ("on_task_instance_running", "on_task_instance_success",
                                           "on_task_instance_failed", "on_task_instance_skipped")
                         if any(i.plugin is run_tracking for i in getattr(task.hook, name).get_hookimpls())),
}))
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert "auralink_run_tracking" in found["plugins"]
    assert found["core"] and found["task"]
    assert found["core_hooks"] == ["on_dag_run_failed", "on_dag_run_running", "on_dag_run_success"]
    assert len(found["task_hooks"]) == 4


def test_error_text_redacts_and_truncates():
    from auralink.orchestration.run_tracking import MAX_ERROR_CHARS, error_text

    assert error_text(None) is None
    assert error_text(KeyError("x")) == "KeyError: 'x'"
    assert error_text("cannot reach postgresql+psycopg://a:p%40ss@h:5432/db") == \
        "cannot reach postgresql+psycopg://a:***@h:5432/db"
    assert len(error_text("x" * 10_000) or "") == MAX_ERROR_CHARS
