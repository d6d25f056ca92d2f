"""Benchmark: what the run-tracking listener costs per event, i.e. what it adds to a task (two events: running,
then success/failed) and to the scheduler (one event per DAG-run state change). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_run_tracking.py                # 300 events of each kind
    .venv/bin/python bench/bench_run_tracking.py --events 2000

Against: the local PostgreSQL of TEST_DATABASE_URL (default 127.0.0.1:5432, user postgres; a database is
created, migrated and dropped), a port where nothing listens (connection refused), and a server that
accepts TCP and never answers (the connect timeout: the worst case; later events are skipped while that
database is backed off). The hooks are called as Airflow calls them, with stand-ins for the DagRun and the
RuntimeTaskInstance carrying the attributes Airflow's objects have.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import socket
import statistics
import threading
import time
import uuid
from types import SimpleNamespace

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url(dbname: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + dbname


def task_instance(run_id: str, n: int, state: str = "running") -> SimpleNamespace:
    now = dt.datetime.now(dt.UTC)
    return SimpleNamespace(dag_id="bench_dag", run_id=run_id, task_id=f"task_{n}", map_index=-1, try_number=1,
                           state=state, hostname="bench-host", start_date=now, end_date=now, task=None,
                           operator="PythonOperator")


def dag_run(run_id: str) -> SimpleNamespace:
    now = dt.datetime.now(dt.UTC)
    return SimpleNamespace(dag_id="bench_dag", run_id=run_id, logical_date=now, start_date=now, end_date=now,
                           run_type="scheduled", clear_number=0, conf={"batch_size": 50})


def measure(label: str, first_ms: float, calls: list) -> None:
    times = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[max(int(len(times) * 0.95) - 1, 0)]
    print(f"  {label:36s} first {first_ms:8.2f} ms   then median {statistics.median(times):6.3f} ms"
          f"   p95 {p95:6.3f} ms   max {times[-1]:8.2f} ms  (n={len(times) + 1})", flush=True)


def events(rt, kind: str, n: int) -> tuple[float, list]:
    """n running+success pairs of one kind; returns (the first call's ms, the remaining calls)."""
    run_id = f"bench__{uuid.uuid4().hex[:8]}"
    calls = []
    for i in range(n):
        if kind == "task":
            calls.append(lambda i=i: rt.on_task_instance_running(
                previous_state=None, task_instance=task_instance(run_id, i)))
            calls.append(lambda i=i: rt.on_task_instance_success(
                previous_state=None, task_instance=task_instance(run_id, i, "success")))
        else:
            calls.append(lambda i=i: rt.on_dag_run_running(dag_run=dag_run(f"{run_id}_{i}"), msg=""))
            calls.append(lambda i=i: rt.on_dag_run_success(dag_run=dag_run(f"{run_id}_{i}"), msg="success"))
    t0 = time.perf_counter()
    calls[0]()
    return (time.perf_counter() - t0) * 1000, calls[1:]


class SilentServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events of each kind per target")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the listener's warnings about the down targets are expected

    from auralink.db.migrate import migrate
    from auralink.orchestration import run_tracking as rt

    name = f"auralink_bench_rt_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    silent = SilentServer()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused_port = s.getsockname()[1]
    try:
        migrate(_url(name))
        targets = [
            ("local PostgreSQL", _url(name)),
            ("unreachable: connection refused", f"postgresql://etl:pw@127.0.0.1:{refused_port}/auralink"),
            ("unreachable: accepts, never answers", f"postgresql://etl:pw@127.0.0.1:{silent.port}/auralink"),
        ]
        print(f"run-tracking listener, cost per event (n={args.events} of each kind; first = the first event)")
        for label, url in targets:
            os.environ["DATABASE_URL"] = url
            print(label)
            for kind, what in (("task", "task events (running, success)"),
                               ("dag", "DAG-run events (running, success)")):
                rt.reset()
                measure(what, *events(rt, kind, args.events // 2))
        with psycopg.connect(_url(name)) as conn:
            rows = conn.execute("SELECT (SELECT count(*) FROM airflow_dag_runs), "
                                "(SELECT count(*) FROM airflow_task_runs)").fetchone()
        print(f"rows written to the local database: {rows[0]} DAG runs, {rows[1]} task tries")
    finally:
        silent.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
