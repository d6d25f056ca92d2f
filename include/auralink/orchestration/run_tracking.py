"""Airflow run tracking: a listener that records every DAG run in ``airflow_dag_runs`` and every task try in
its child table ``airflow_task_runs`` (migration 1000), so analysts see pipeline history beside the data
it produced.

This module is the listener itself (pluggy ``@hookimpl`` functions, registered by the thin plugin
``plugins/auralink_run_tracking.py``). Airflow 3 calls the DAG-run hooks in the scheduler (and the
api-server, when a run is marked by hand) with the ORM ``DagRun``, and the task hooks in the task's own
process with a ``RuntimeTaskInstance`` (or in the api-server with the ORM ``TaskInstance`` when a task's
state is set by hand); the same functions serve both.

Tracking must never slow down or fail what it tracks: every write is one short statement on the process's
own connection (2 s connect timeout, 3 s statement timeout), every error is caught and logged once (the
URL's password redacted), and after a failure the same database is left alone for a while, so a scheduler
or a task with many events pays the timeout once, not per event. Nothing happens at import.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from airflow.listeners import hookimpl
from psycopg.types.json import Jsonb

from auralink import config

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2  # libpq's minimum: a down database costs a task at most this, once
STATEMENT_TIMEOUT_MS = 3000
TCP_USER_TIMEOUT_MS = 3000  # a connection whose peer vanished mid-statement gives up too
BACKOFF_S = 30.0  # after a failed write, skip writes to that database for this long
MAX_ERROR_CHARS = 2000

_lock = threading.Lock()
_backoff_until: dict[str, float] = {}  # url -> monotonic time until which writes are skipped
_skipped: dict[str, int] = {}  # url -> events skipped during its backoff (reported on recovery)
_connections: dict[str, tuple[int, psycopg.Connection]] = {}  # url -> (owning pid, connection)
_said_off = False
_embedded_url: str | None = None


@dataclass(frozen=True)
class DagRunRecord:
    """One DAG-run state change, as written to ``airflow_dag_runs``."""

    dag_id: str
    run_id: str
    state: str  # running | success | failed
    logical_date: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    run_type: str | None = None
    try_number: int = 1
    conf: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class TaskRunRecord:
    """One task-try state change, as written to ``airflow_task_runs``."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    state: str  # running | success | failed | up_for_retry | skipped
    map_index: int = -1
    operator: str | None = None
    hostname: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Writing (raises on any error: callers that must not fail go through _deliver)

# A newer attempt of the run (cleared and re-run: higher try_number) replaces the row; an older attempt's
# late event is ignored. A failed run's error names its failed tasks, read from the child table.
_DAG_RUN_UPSERT = """
INSERT INTO airflow_dag_runs AS d (dag_id, run_id, logical_date, run_type, state, try_number, started_at,
                                   finished_at, conf, error, updated_at)
VALUES (%(dag_id)s::text, %(run_id)s::text, %(logical_date)s::timestamptz, %(run_type)s::text,
        %(state)s::text, %(try_number)s::integer, COALESCE(%(started_at)s::timestamptz, now()),
        %(finished_at)s::timestamptz, %(conf)s,
        CASE WHEN %(state)s::text = 'failed' THEN concat_ws('; ', %(error)s::text, (
            SELECT 'failed tasks: ' || string_agg(
                       t.task_id || CASE WHEN t.map_index >= 0 THEN '[' || t.map_index || ']' ELSE '' END
                       || ' (try ' || t.try_number || ')' || COALESCE(': ' || left(t.error, 300), ''),
                       ', ' ORDER BY t.task_id, t.map_index)
            FROM airflow_task_runs t
            WHERE t.dag_id = %(dag_id)s::text AND t.run_id = %(run_id)s::text AND t.state = 'failed'))
        END,
        now())
ON CONFLICT (dag_id, run_id) DO UPDATE SET
    logical_date = COALESCE(EXCLUDED.logical_date, d.logical_date),
    run_type     = COALESCE(EXCLUDED.run_type, d.run_type),
    state        = EXCLUDED.state,
    try_number   = EXCLUDED.try_number,
    started_at   = CASE WHEN %(started_at)s::timestamptz IS NULL THEN d.started_at ELSE EXCLUDED.started_at END,
    finished_at  = EXCLUDED.finished_at,
    conf         = EXCLUDED.conf,
    error        = EXCLUDED.error,
    updated_at   = now()
WHERE EXCLUDED.try_number >= d.try_number
"""

# The parent run row is created first when the task's event beats the run's own (the run event fills it
# in later); a try that already ended is never set back to running by a late or repeated event.
_TASK_RUN_UPSERT = """
WITH parent AS (
    INSERT INTO airflow_dag_runs (dag_id, run_id, state) VALUES (%(dag_id)s::text, %(run_id)s::text, 'running')
    ON CONFLICT (dag_id, run_id) DO NOTHING
)
INSERT INTO airflow_task_runs AS t (dag_id, run_id, task_id, map_index, try_number, state, operator, hostname,
                                    started_at, finished_at, error, updated_at)
VALUES (%(dag_id)s::text, %(run_id)s::text, %(task_id)s::text, %(map_index)s::integer,
        %(try_number)s::integer, %(state)s::text, %(operator)s::text, %(hostname)s::text,
        %(started_at)s::timestamptz, %(finished_at)s::timestamptz, %(error)s::text, now())
ON CONFLICT (dag_id, run_id, task_id, map_index, try_number) DO UPDATE SET
    state       = EXCLUDED.state,
    operator    = COALESCE(EXCLUDED.operator, t.operator),
    hostname    = COALESCE(EXCLUDED.hostname, t.hostname),
    started_at  = COALESCE(EXCLUDED.started_at, t.started_at),
    finished_at = EXCLUDED.finished_at,
    error       = EXCLUDED.error,
    updated_at  = now()
WHERE EXCLUDED.state <> 'running' OR t.state = 'running'
"""


def _connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                           application_name="auralink-run-tracking", tcp_user_timeout=TCP_USER_TIMEOUT_MS)
    # SET rather than the startup "options" parameter, which connection poolers (PgBouncer) refuse. No wait
    # for the WAL flush: a server crash may lose the last few tracking rows, never pipeline data, and each
    # event stops costing a disk sync (~4 ms here) in the task.
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}; SET lock_timeout = {STATEMENT_TIMEOUT_MS // 2};"
                 " SET synchronous_commit = off")
    return conn


def _execute(url: str, sql: str, params: dict[str, Any]) -> None:
    """Run one statement on this process's connection to ``url``: opened on first use (~10 ms), reused after
    (~0.2 ms), since the scheduler and the api-server send many events. A connection inherited through
    fork() belongs to the parent and is never used (psycopg does not close it on collection either)."""
    pid = os.getpid()
    with _lock:
        cached = _connections.pop(url, None)
    conn = cached[1] if cached is not None and cached[0] == pid and not cached[1].closed else None
    reused = conn is not None
    if conn is None:
        conn = _connect(url)
    try:
        try:
            conn.execute(sql, params)
        except psycopg.OperationalError:
            if not (reused and conn.broken):
                raise
            # The server closed the idle connection (restarted, or a pooler's timeout): one fresh try.
            conn.close()
            conn = _connect(url)
            conn.execute(sql, params)
    finally:
        if conn.closed or conn.broken:
            conn.close()
        else:
            _keep(url, pid, conn)


def _keep(url: str, pid: int, conn: psycopg.Connection) -> None:
    with _lock:
        previous = _connections.get(url)
        _connections[url] = (pid, conn)
    if previous is not None and previous[0] == pid and previous[1] is not conn:
        previous[1].close()  # two threads raced for the connection: keep one


def record_dag_run(run: DagRunRecord, url: str) -> None:
    """Upsert one DAG run (dag_id, run_id); raises on any database error."""
    params = {
        "dag_id": run.dag_id, "run_id": run.run_id, "logical_date": run.logical_date, "run_type": run.run_type,
        "state": run.state, "try_number": run.try_number, "started_at": run.started_at,
        "finished_at": run.finished_at, "error": run.error,
        # conf is whatever the trigger passed: anything JSON cannot encode is kept as its text.
        "conf": Jsonb(run.conf or {}, dumps=functools.partial(json.dumps, default=str)),
    }
    _execute(url, _DAG_RUN_UPSERT, params)


def record_task_run(task: TaskRunRecord, url: str) -> None:
    """Upsert one task try (dag_id, run_id, task_id, map_index, try_number); raises on any database error."""
    params = {
        "dag_id": task.dag_id, "run_id": task.run_id, "task_id": task.task_id, "map_index": task.map_index,
        "try_number": task.try_number, "state": task.state, "operator": task.operator,
        "hostname": task.hostname, "started_at": task.started_at, "finished_at": task.finished_at,
        "error": task.error,
    }
    _execute(url, _TASK_RUN_UPSERT, params)


# ---------------------------------------------------------------------------------------------------------
# Delivery: where to, and never an exception out of a hook


def tracking_url() -> str | None:
    """The project's database: Airflow's ``auralink_db`` connection (UI, env, secrets backend), else
    DATABASE_URL, else the embedded one only when it is already running: a listener must not start a
    database server inside a task or the scheduler. None: nowhere to record (or AURALINK_RUN_TRACKING=off)."""
    global _embedded_url
    if (config.env("AURALINK_RUN_TRACKING") or "on").lower() in ("off", "false", "0", "no"):
        return None
    from auralink.orchestration.connections import airflow_database_url

    url = airflow_database_url() or config.env("DATABASE_URL")
    if url:
        from auralink.db.connection import normalize_url

        return normalize_url(url)
    if _embedded_url is None:
        from auralink.db.embedded import data_directory

        if not (data_directory() / "postmaster.pid").exists():
            return None
        from auralink.db.connection import database_url

        _embedded_url = database_url()
    return _embedded_url


def reset() -> None:
    """Forget backoffs, cached URLs and connections (tests; a process whose database came back)."""
    global _said_off, _embedded_url
    with _lock:
        _backoff_until.clear()
        _skipped.clear()
        _said_off = False
        _embedded_url = None
        connections = list(_connections.values())
        _connections.clear()
    for pid, conn in connections:
        if pid == os.getpid():
            conn.close()


def _deliver(what: str, write: Any, record: DagRunRecord | TaskRunRecord) -> None:
    """Write one record; every error is caught and logged once per backoff window."""
    global _said_off
    key = "<configuration>"  # until the URL is known, a bad setting backs off like a down database
    try:
        now = time.monotonic()
        with _lock:
            if _backoff_until.get(key, 0.0) > now:
                return
        url = tracking_url()
        if url is None:
            if not _said_off:
                _said_off = True
                log.info("run tracking off: no auralink_db connection, no DATABASE_URL (or AURALINK_RUN_TRACKING=off)")
            return
        key = url
        with _lock:
            if _backoff_until.get(key, 0.0) > now:
                _skipped[key] = _skipped.get(key, 0) + 1
                return
        write(record, url)
        with _lock:
            _backoff_until.pop(key, None)
            skipped = _skipped.pop(key, 0)
        if skipped:
            log.warning("run tracking recovered: %d event(s) were not recorded while %s was failing",
                        skipped, config.redact_url(url))
    except Exception as exc:  # noqa: BLE001 - tracking must never fail or stall the run it tracks
        with _lock:
            _backoff_until[key] = time.monotonic() + BACKOFF_S
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("run tracking: could not record %s in %s (%s: %s); not retrying for %.0f s",
                    what, config.redact_url(key), type(exc).__name__, redact_text(first), BACKOFF_S)


# ---------------------------------------------------------------------------------------------------------
# From Airflow's objects to records

_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Passwords in any URL inside a message replaced by ``***`` (errors end up in a table and a log)."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def error_text(error: object) -> str | None:
    if error is None or error == "":
        return None
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = redact_text(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _state(value: object) -> str:
    return str(getattr(value, "value", value))


def _when(value: object) -> dt.datetime | None:
    """A plain aware datetime (pendulum's subclass normalised)."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(value.timestamp(), tz=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dag_run_record(dag_run: Any, state: str, msg: str | None = None) -> DagRunRecord:
    finished = state in ("success", "failed")
    conf = getattr(dag_run, "conf", None)
    return DagRunRecord(
        dag_id=dag_run.dag_id, run_id=dag_run.run_id, state=state,
        logical_date=_when(getattr(dag_run, "logical_date", None)),
        started_at=_when(getattr(dag_run, "start_date", None)),
        finished_at=(_when(getattr(dag_run, "end_date", None)) or _now()) if finished else None,
        run_type=_state(dag_run.run_type) if getattr(dag_run, "run_type", None) else None,
        try_number=int(getattr(dag_run, "clear_number", 0) or 0) + 1,
        conf=dict(conf) if isinstance(conf, dict) else None,
        error=redact_text(msg) if state == "failed" and msg else None,
    )


def task_run_record(ti: Any, state: str, error: object = None) -> TaskRunRecord:
    finished = state != "running"
    task = getattr(ti, "task", None)
    operator = getattr(ti, "operator", None) or (type(task).__name__ if task is not None else None)
    map_index = getattr(ti, "map_index", -1)
    return TaskRunRecord(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
        map_index=-1 if map_index is None else int(map_index),
        try_number=int(getattr(ti, "try_number", 0) or 0), state=state,
        operator=operator, hostname=getattr(ti, "hostname", None) or None,
        started_at=_when(getattr(ti, "start_date", None)),
        finished_at=(_when(getattr(ti, "end_date", None)) or _now()) if finished else None,
        error=error_text(error),
    )


def _dag_run_event(dag_run: Any, state: str, msg: str | None) -> None:
    try:
        record = dag_run_record(dag_run, state, msg)
    except Exception as exc:  # noqa: BLE001 - an unexpected object must not break the scheduler loop
        log.warning("run tracking: unreadable DAG run event (%s: %s)", type(exc).__name__, exc)
        return
    _deliver(f"DAG run {record.dag_id}/{record.run_id} ({state})", record_dag_run, record)


def record_task_event(ti: Any, state: str, error: object = None) -> None:
    """Record a task try's state from wherever it ended: the hooks below, or a trigger that ends its task
    in the triggerer (auralink.orchestration.dbt_watcher), where no task process calls a listener."""
    try:
        record = task_run_record(ti, state, error)
    except Exception as exc:  # noqa: BLE001 - an unexpected object must not fail the task
        log.warning("run tracking: unreadable task event (%s: %s)", type(exc).__name__, exc)
        return
    _deliver(f"task {record.dag_id}/{record.run_id}/{record.task_id} try {record.try_number} ({state})",
             record_task_run, record)


# ---------------------------------------------------------------------------------------------------------
# The listener hooks (names and argument names are Airflow 3.3's hookspecs; pluggy checks them)


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "running", msg)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "success", msg)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "failed", msg)


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    record_task_event(task_instance, "running")


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    record_task_event(task_instance, "success")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    # The same hook reports a try that will be retried: the task instance's state tells them apart.
    retry = _state(getattr(task_instance, "state", None)) == "up_for_retry"
    record_task_event(task_instance, "up_for_retry" if retry else "failed", error)


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    record_task_event(task_instance, "skipped")
