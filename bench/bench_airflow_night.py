"""Benchmark: one night of the nightly DAG through a real local Airflow against the same night in process.

The data is the end-to-end test's seed (tests/e2e/test_airflow_ui.py: 4 organizations, 5 days, seed 7,
ending yesterday), seeded once and cloned, so each side starts from an identical fresh database:

  in process: ``auralink pipeline run --date D`` for yesterday, a fresh process (dbt in it);
  Airflow:    ``auralink airflow up``'s local Airflow (airflow standalone: scheduler, dag-processor,
              triggerer, api-server, LocalExecutor; auralink.orchestration.local_airflow), the nightly DAG
              triggered for today 02:00 UTC (the night of yesterday), dbt as Cosmos's watcher by default;
  in process again, on a third clone after Airflow has stopped: the machine is shared, and the two
              in-process runs bracket the Airflow one.

The Airflow night is timed from the trigger to the run's end. Airflow's own start, DAG parsing and
warm-up (the executor's workers forked, the API server holding the DAG) are reported apart: a
deployment pays them once, not per night. Prints both wall times, each job's time on
both sides (a task group's from its first task's start to its last task's end) and where Airflow's extra
time goes: the wait between a task's upstream finishing and the task starting (scheduling, queueing and
the task process's start-up) against the tasks' run time. Target: Airflow within 2x of in process.

    .venv/bin/python bench/bench_airflow_night.py                  # watcher mode (the default), ~10 min
    .venv/bin/python bench/bench_airflow_night.py --dbt-mode local # one dbt invocation per Cosmos task

Databases are made on TEST_DATABASE_URL's server (default 127.0.0.1:5432, user postgres) and dropped
afterwards unless --keep. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "bench"))
WORK = Path(tempfile.mkdtemp(prefix="auralink-bench-airflow-"))
os.environ.setdefault("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")  # bench-only key
os.environ.setdefault("AURALINK_HOME", str(WORK))
os.environ.setdefault("AURALINK_ARCHIVE_URL", str(WORK / "archives"))
os.environ.setdefault("AURALINK_EXPORT_URL", str(WORK / "exports"))
# Both sides build one snapshot of the dbt project, taken now: the checkout's models may be edited while
# the bench runs (the manifest the DAG renders from would change under the Airflow run).
DBT_SNAPSHOT = WORK / "dbt_project"
shutil.copytree(ROOT / "dbt_project", DBT_SNAPSHOT, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
os.environ["AURALINK_DBT_PROJECT_DIR"] = str(DBT_SNAPSHOT)

import psycopg
from bench_analytics import log, url_for

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAG_ID = "nightly"
DBT_GROUP = "dbt_build"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ts(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text).timestamp() if text else None


def create_database(name: str, template: str | None = None) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url_for(name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def in_process_night(url: str, day: dt.date) -> dict[str, Any]:
    """The night as `auralink pipeline run --date D` runs it, a fresh process (its imports are part of the
    night, as each Airflow task's are); each job's time from its job_runs row."""
    env = {**os.environ, "DATABASE_URL": url}
    started = time.time()
    proc = subprocess.run([str(Path(sys.executable).parent / "auralink"), "pipeline", "run", "--date", str(day),
                           "--triggered-by", "bench"], check=False, env=env, capture_output=True, text=True)
    finished = time.time()
    if proc.returncode not in (0, 1):  # 1 (EXIT_FAILED): a job failed, reported below
        raise RuntimeError(f"auralink pipeline run exited {proc.returncode}: {proc.stderr[-2000:]}")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT job_name, status, started_at, finished_at FROM job_runs "
                            "WHERE triggered_by = 'bench' ORDER BY started_at").fetchall()
    jobs = {name: {"status": status, "seconds": ((e or s).timestamp() - s.timestamp())}
            for name, status, s, e in rows}
    return {"total": finished - started, "jobs": jobs}


class Api:
    def __init__(self, base_url: str, password: str) -> None:
        self.base = base_url
        self.token = self._call("POST", "/auth/token", {"username": "admin", "password": password},
                                auth=False)["access_token"]

    def _call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self._call("GET", "/api/v2" + path)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", "/api/v2" + path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", "/api/v2" + path, body)


def airflow_night(url: str, metadata_url: str, today: dt.date, mode: str, timeout: float,
                  extra_env: dict[str, str]) -> dict[str, Any]:
    """Start a local Airflow, trigger the nightly DAG for today 02:00 (yesterday's night), wait, collect."""
    from auralink.orchestration.local_airflow import LocalAirflowConfig, running

    cfg = LocalAirflowConfig.for_project(
        home=WORK / "airflow", port=_free_port(), database_url=url, metadata_url=metadata_url,
        # No scheduled run of its own: the only run is the one triggered here (as in the e2e test).
        extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False", "AURALINK_DBT_EXECUTION_MODE": mode,
                   **extra_env})
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    t0 = time.monotonic()
    with running(cfg, base_env=base_env, timeout=600) as airflow:
        start_s = time.monotonic() - t0
        api = Api(cfg.base_url, airflow.admin_password())
        t1 = time.monotonic()
        while True:
            try:
                api.get(f"/dags/{DAG_ID}")
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() - t1 > 300:
                    raise
                time.sleep(1)
        parse_s = time.monotonic() - t1
        ready_s = _wait_until_warm(api, cfg.log_dir / "standalone.log", cfg.parallelism)
        log(f"Airflow up in {start_s:.0f}s, {DAG_ID} parsed {parse_s:.0f}s later, warm {ready_s:.0f}s after "
            f"(parallelism {cfg.parallelism})")
        api.patch(f"/dags/{DAG_ID}", {"is_paused": False})
        triggered = time.time()
        run = api.post(f"/dags/{DAG_ID}/dagRuns", {"dag_run_id": "bench", "logical_date": f"{today}T02:00:00Z"})
        run_id = run["dag_run_id"]
        deadline = time.monotonic() + timeout
        while True:
            run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                break
            time.sleep(1)
        ended = time.time()
        tis = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
    # Each task process the executor ran ends with one "Workload finished" line: a deferred sensor that
    # resumes, or a task rescheduled at start-up, costs two or more.
    workloads = [line for line in (cfg.log_dir / "standalone.log").read_text(errors="replace").splitlines()
                 if "Workload finished" in line and "ExecuteTask" in line]
    return {"processes": len(workloads), "deferred": sum("final_state=deferred" in w for w in workloads),
            "rescheduled": sum("final_state=up_for_reschedule" in w for w in workloads), "state": run["state"],
            "start_s": start_s, "parse_s": parse_s, "ready_s": ready_s, "triggered": triggered, "ended": ended,
            "run_start": _ts(run.get("start_date")), "run_end": _ts(run.get("end_date")) or ended,
            "parallelism": cfg.parallelism, "tis": tis}


def _wait_until_warm(api: Api, log_file: Path, workers: int, timeout: float = 180) -> float:
    """Wait for what a running deployment has long done before a night; returns the seconds waited.

    - The scheduler's executor has forked its workers: the preloading LocalExecutor imports the job
      library first, which holds the scheduler's first loop for seconds after the DAG is parsed.
    - The API server holds the DAG: its first request for the DAG deserializes it (what opening the DAG
      in the UI does), and the first task's start waited on that.
    """
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        if text.count("Worker starting up") >= workers:
            break
        time.sleep(0.5)
    api.get(f"/dags/{DAG_ID}/tasks")
    return time.monotonic() - t0


def task_job(task_id: str) -> str:
    return task_id.split(".", 1)[0]


def airflow_breakdown(af: dict[str, Any]) -> dict[str, Any]:
    """Per job: span (first start to last end of its tasks), summed task run time, and start waits."""
    jobs: dict[str, dict[str, Any]] = {}
    for ti in af["tis"]:
        start, end, queued = _ts(ti.get("start_date")), _ts(ti.get("end_date")), _ts(ti.get("queued_when"))
        j = jobs.setdefault(task_job(ti["task_id"]), {"tasks": 0, "first": None, "last": None, "run": 0.0,
                                                     "queue_wait": 0.0, "states": {}})
        j["tasks"] += 1
        j["states"][ti["state"]] = j["states"].get(ti["state"], 0) + 1
        if start is None:
            continue
        j["first"] = start if j["first"] is None else min(j["first"], start)
        if end is not None:
            j["last"] = end if j["last"] is None else max(j["last"], end)
            j["run"] += end - start
        if queued is not None:
            j["queue_wait"] += max(0.0, start - queued)
    return jobs


def report(first: dict[str, Any], second: dict[str, Any], af: dict[str, Any], args: argparse.Namespace) -> None:
    wall_af = af["run_end"] - af["triggered"]
    in_proc = min(first["total"], second["total"])
    jobs = airflow_breakdown(af)
    print("\n== nightly DAG through a local Airflow vs in process ==")
    print(f"command: {' '.join(sys.argv)}")
    print(f"data: the e2e seed ({args.orgs} orgs, {args.days} days, seed {args.seed}); night {args.day}; "
          f"dbt mode {args.dbt_mode}; parallelism {af['parallelism']}; {os.cpu_count()} cores (shared machine)")
    print(f"Airflow start {af['start_s']:.0f} s, DAG parsed {af['parse_s']:.0f} s later, scheduler and API server "
          f"warm {af['ready_s']:.0f} s after (not in the night's time)")
    header = f"{'job':36} {'in-proc s':>9} {'Airflow s':>9} {'tasks':>5} {'task-run s':>10} {'queue s':>8}"
    print(header)
    print("-" * len(header))
    order = list(first["jobs"]) + [j for j in jobs if j not in first["jobs"]]
    for name in order:
        p = first["jobs"].get(name, {}).get("seconds")
        a = jobs.get(name)
        span = (a["last"] - a["first"]) if a and a["first"] is not None and a["last"] is not None else None
        print(f"{name:36} {p if p is not None else float('nan'):>9.1f} "
              f"{span if span is not None else float('nan'):>9.1f} {a['tasks'] if a else 0:>5} "
              f"{a['run'] if a else 0:>10.1f} {a['queue_wait'] if a else 0:>8.1f}"
              + ("" if not a or set(a["states"]) <= {"success"} else f"  {a['states']}"))
    print("-" * len(header))
    task_run = sum(a["run"] for a in jobs.values())
    queue = sum(a["queue_wait"] for a in jobs.values())
    print(f"in process: {first['total']:.1f} s (before Airflow), {second['total']:.1f} s (after)")
    print(f"Airflow ({af['state']}): {wall_af:.1f} s from trigger to the run's end "
          f"(run start lag {(af['run_start'] or af['triggered']) - af['triggered']:.1f} s); "
          f"{len(af['tis'])} task instances, {task_run:.0f} s of task run time, {queue:.0f} s queued before start")
    print(f"task processes: {af['processes']} ({af['deferred']} ended deferred and resumed in another, "
          f"{af['rescheduled']} rescheduled at start-up)")
    print(f"ratio Airflow / in process: {wall_af / in_proc:.2f}x (best in-process run; "
          f"{wall_af / max(first['total'], second['total']):.2f}x against the slower) -- target <= 2x; "
          "measured in one run on a shared 2-core machine")
    failed = [(ti["task_id"], ti["state"]) for ti in af["tis"] if ti["state"] not in ("success", "skipped")]
    if failed:
        print(f"tasks not succeeded/skipped: {failed}")
    for label, run in (("in process (1)", first), ("in process (2)", second)):
        bad = {k: v["status"] for k, v in run["jobs"].items() if v["status"] not in ("succeeded", "skipped")}
        if bad:
            print(f"{label}: jobs not succeeded: {bad}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dbt-mode", choices=["watcher", "local"], default="watcher")
    parser.add_argument("--timeout", type=float, default=2700, help="seconds to wait for the Airflow run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for Airflow (e.g. AIRFLOW__SCHEDULER__...), repeatable; for A/B")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.set)
    # Started in the background, a shell leaves SIGINT ignored, and so would Airflow (it inherits that):
    # Ctrl-C and SIGTERM both stop the bench through its `finally`s, Airflow included.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    from auralink.analytics.dbt_runner import ensure_manifest
    from auralink.db.migrate import migrate
    from auralink.seed.generator import SeedConfig, seed_database

    today = dt.datetime.now(dt.UTC).date()
    args.day = today - dt.timedelta(days=1)  # the night of a 02:00 run today
    prefix = f"auralink_bench_airflow_{os.getpid()}"
    names = {k: f"{prefix}_{k}" for k in ("seed", "inproc1", "airflow", "inproc2", "meta")}
    try:
        seed_url = create_database(names["seed"])
        migrate(seed_url)
        seed_database(SeedConfig(orgs=args.orgs, days=args.days, seed=args.seed, end_date=args.day, audio=False),
                      url=seed_url, progress=False)
        urls = {k: create_database(names[k], template=names["seed"]) for k in ("inproc1", "airflow", "inproc2")}
        meta_url = create_database(names["meta"])
        ensure_manifest()  # of the snapshot, before either side parses the DAG or builds
        log(f"seeded and cloned ({args.orgs} orgs, {args.days} days to {args.day}); dbt project {DBT_SNAPSHOT}")

        first = in_process_night(urls["inproc1"], args.day)
        log(f"in process: {first['total']:.1f}s")
        af = airflow_night(urls["airflow"], meta_url, today, args.dbt_mode, args.timeout, extra)
        log(f"Airflow: {af['run_end'] - af['triggered']:.1f}s ({af['state']})")
        second = in_process_night(urls["inproc2"], args.day)
        log(f"in process again: {second['total']:.1f}s")
        report(first, second, af, args)
    finally:
        if not args.keep:
            for name in names.values():
                drop_database(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
