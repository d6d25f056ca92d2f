"""Job registration, parameter schemas and run recording (``job_runs`` / ``job_run_items``).

A job declares here, once, everything the orchestrators need: what it runs after (jobs, or tables another
job produces), what it produces, whether it makes sense only for the current night, how often it is
retried and for how long it may run. ``auralink.jobs.graph`` turns the declarations into the night's
graph, from which the Airflow DAGs, the Argo nightly and ``auralink pipeline run`` are all rendered.

Every run gets the night's :class:`~auralink.jobs.interval.DataInterval` on its context. A run holds a
session advisory lock on its own row for its whole life, so a run whose process died is recognised (its
lock is free) and closed as ``abandoned`` by the next run of the job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import inspect
import json
import logging
import pkgutil
import threading
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink import metrics
from auralink.db.connection import connect, database_url, scalar
from auralink.jobs.interval import DataInterval, is_current, latest_night

log = logging.getLogger(__name__)

# Advisory-lock namespaces (the two-key form: namespace, key).
_RUN_LOCK = 0x4A52554E   # "JRUN": held by a live run on its own job_runs id
_JOB_LOCK = 0x4A4F4253   # "JOBS": one run of a (non-parallel) job at a time

PIPELINES = ("nightly", "recordings")


class UnknownJob(LookupError):
    pass


class JobFailed(RuntimeError):
    """The job as a whole failed (not one item of it); the run row carries the error.

    ``retryable`` False means a retry would fail the same way (bad data, a failed quality gate): Airflow
    fails the task without retries, the CLI exits 3 and Argo does not retry.
    """

    retryable = True


@dataclass
class JobContext:
    """What a job gets: where the database is, the night's interval, and a way to record per-item outcomes."""

    url: str
    job_name: str
    interval: DataInterval = field(default_factory=latest_night)
    run_id: int | None = None
    triggered_by: str = "cli"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("auralink.job"))
    item_counts: dict[str, int] = field(default_factory=lambda: {"succeeded": 0, "failed": 0, "skipped": 0})
    _outcomes: psycopg.Connection | None = None
    _outcomes_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def now(self) -> dt.datetime:
        """"Now" for a job that means "as of now" (deadlines, schedules, retention): the interval's end."""
        return self.interval.end

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        return connect(self.url, autocommit=autocommit, application_name=f"auralink:{self.job_name}")

    def record_item(self, item_type: str, item_id: Any, outcome: str, reason: str | None = None) -> None:
        """Record what happened to one item, on the run's own autocommit connection: outside the item's
        transaction, so the outcome survives the item's rollback."""
        self.item_counts[outcome] = self.item_counts.get(outcome, 0) + 1
        if outcome == "failed":
            self.log.warning("%s %s failed: %s", item_type, item_id, reason)
        elif outcome == "skipped":
            self.log.info("%s %s skipped: %s", item_type, item_id, reason)
        if self.run_id is None:
            return
        with self._outcomes_lock:  # jobs call this from worker threads too
            if self._outcomes is None:
                self._outcomes = connect(self.url, autocommit=True, application_name=f"auralink:{self.job_name}")
            self._outcomes.execute(
                "INSERT INTO job_run_items (job_run_id, item_type, item_id, outcome, reason) VALUES (%s, %s, %s, %s, %s)",
                (self.run_id, item_type, str(item_id), outcome, reason),
            )


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[..., dict[str, Any]]
    help: str
    stage: int | None = None            # display order in the night; None: on demand only
    after: tuple[str, ...] = ()          # jobs, or tables some job produces, this job runs after
    produces: tuple[str, ...] = ()       # tables it writes that others may run after (Airflow outlets)
    certifies: tuple[str, ...] = ()      # tables a gate vouches for: announced as Assets when it passes
    pipelines: tuple[str, ...] = ()      # which scheduled graphs it belongs to
    current_only: bool = False           # only meaningful for the current night (LatestOnly): skipped otherwise
    parallel: bool = False               # claims its own items: several instances may run at once
    fan_out: str | None = None           # how orchestrators split it: "recording_batches", "summary_workers"
    retries: int = 2
    timeout_minutes: int = 60
    secrets: tuple[str, ...] = ()        # besides the database: "secret_key" (AES key), "llm" (API key)
    release_claims: str | None = None    # "module:function(conn, run_id) -> int": a dead run's claims back

    def parameters(self) -> dict[str, inspect.Parameter]:
        params = dict(inspect.signature(self.func).parameters)
        params.pop(next(iter(params)))  # the context
        return params

    def param_types(self) -> dict[str, Any]:
        hints = typing.get_type_hints(self.func, include_extras=True)
        return {name: hints.get(name, str) for name in self.parameters()}

    def param_schema(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of each parameter (type, bounds, default): what Airflow Params and Argo render."""
        from pydantic import TypeAdapter

        out = {}
        for name, param in self.parameters().items():
            schema = TypeAdapter(self.param_types()[name]).json_schema()
            if param.default is not inspect.Parameter.empty:
                schema["default"] = param.default
            out[name] = schema
        return out


_JOBS: dict[str, Job] = {}
_discovered = False


def job(name: str, *, help: str = "", stage: int | None = None, after: tuple[str, ...] = (),
        produces: tuple[str, ...] = (), certifies: tuple[str, ...] = (), pipelines: tuple[str, ...] | None = None,
        current_only: bool = False, parallel: bool = False, fan_out: str | None = None, retries: int = 2,
        timeout_minutes: int = 60, secrets: tuple[str, ...] = (),
        release_claims: str | None = None) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register ``fn(ctx, **params) -> stats`` as job ``name``.

    A job with a ``stage`` belongs to the nightly graph unless ``pipelines`` says otherwise.
    """
    if pipelines is None:
        pipelines = ("nightly",) if stage is not None else ()
    unknown = sorted(set(pipelines) - set(PIPELINES))
    if unknown:
        raise ValueError(f"job {name!r}: unknown pipeline(s) {unknown}; pipelines: {', '.join(PIPELINES)}")

    def register(func: Callable[..., dict]) -> Callable[..., dict]:
        existing = _JOBS.get(name)
        if existing and existing.func.__module__ != func.__module__:
            raise ValueError(f"job {name!r} is defined twice: {existing.func.__module__} and {func.__module__}")
        doc = help or (inspect.getdoc(func) or "").split("\n", 1)[0]
        _JOBS[name] = Job(name, func, doc, stage, tuple(after), tuple(produces), tuple(certifies), tuple(pipelines),
                          current_only, parallel, fan_out, retries, timeout_minutes, tuple(secrets), release_claims)
        return func

    return register


def discover() -> None:
    """Import every ``auralink.<domain>.jobs`` module so their jobs register."""
    global _discovered
    if _discovered:
        return
    import auralink

    for mod in pkgutil.iter_modules(auralink.__path__):
        if mod.ispkg and importlib.util.find_spec(f"auralink.{mod.name}.jobs") is not None:
            importlib.import_module(f"auralink.{mod.name}.jobs")
    _discovered = True


def all_jobs() -> list[Job]:
    discover()
    return sorted(_JOBS.values(), key=lambda j: j.name)


def nightly_jobs() -> list[Job]:
    """The nightly graph's jobs in the order ``auralink pipeline run`` takes them (topological)."""
    from auralink.jobs.graph import topological

    return topological("nightly")


def get_job(name: str) -> Job:
    discover()
    try:
        return _JOBS[name]
    except KeyError:
        known = ", ".join(sorted(_JOBS)) or "none"
        raise UnknownJob(f"unknown job {name!r}; known jobs: {known}") from None


# --- parameters ---------------------------------------------------------------------------------

def _is_container(annotation: Any) -> bool:
    base = typing.get_origin(annotation) or annotation
    if base is typing.Annotated:
        return _is_container(typing.get_args(annotation)[0])
    if base in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is_container(a) for a in typing.get_args(annotation) if a is not type(None))
    return base in (list, dict, tuple, set)


def coerce_value(job_def: Job, name: str, value: Any) -> Any:
    """One parameter through its declared type and bounds (pydantic, lax: "5" is 5, "yes" is True,
    ``""``/"none"/"null" is None for optional ones, JSON text for lists and dicts)."""
    from pydantic import TypeAdapter, ValidationError

    annotation = job_def.param_types()[name]
    adapter = TypeAdapter(annotation)
    try:
        if isinstance(value, str):
            if value.strip().lower() in ("", "none", "null") and _accepts_none(adapter):
                return None
            if _is_container(annotation):
                return adapter.validate_json(value)
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = " ".join(str(exc.errors()[0]["msg"]).split())  # one line, whatever the input held
        raise ValueError(f"job {job_def.name}: parameter {name}={_short(value)}: {reason}") from None


def _accepts_none(adapter: Any) -> bool:
    from pydantic import ValidationError

    try:
        adapter.validate_python(None)
        return True
    except ValidationError:
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def coerce_params(job_def: Job, params: dict[str, Any]) -> dict[str, Any]:
    accepted = job_def.parameters()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"job {job_def.name} has no parameter {', '.join(unknown)}; it takes: "
                         f"{', '.join(accepted) or 'none'}")
    return {k: coerce_value(job_def, k, v) for k, v in params.items()}


# --- running ------------------------------------------------------------------------------------

def _record(conn: psycopg.Connection, run_id: int, status: str, *, stats: dict | None = None,
            error: str | None = None) -> None:
    conn.execute(
        "UPDATE job_runs SET status = %s, finished_at = now(), stats = %s, error = %s WHERE id = %s",
        (status, Jsonb(json.loads(json.dumps(stats or {}, default=str))), error, run_id),
    )


def close_abandoned_runs(conn: psycopg.Connection, job_def: Job) -> list[int]:
    """Mark ``running`` rows of the job whose process died as ``abandoned``, and give the items they had
    claimed back to the queue (the job's ``release_claims``).

    A live run holds a session advisory lock on its id; if we can take that lock, nobody holds it. (A pid
    check would be wrong: pids repeat across containers and pods.)
    """
    job_name = job_def.name
    closed = []
    for (run_id,) in conn.execute("SELECT id FROM job_runs WHERE job_name = %s AND status = 'running'",
                                  (job_name,)).fetchall():
        if scalar(conn, "SELECT pg_try_advisory_lock(%s, %s)", (_RUN_LOCK, run_id)):
            try:
                released = _release_claims(conn, job_def, run_id)
                conn.execute("UPDATE job_runs SET status = 'abandoned', finished_at = now(), error = "
                             "'the process running it died (its run lock was free); closed by a later run'"
                             " || CASE WHEN %s > 0 THEN ', ' || %s || ' claimed item(s) released' ELSE '' END "
                             "WHERE id = %s AND status = 'running'", (released, released, run_id))
                closed.append(run_id)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_RUN_LOCK, run_id))
    if closed:
        log.warning("%s: closed %d abandoned run(s): %s", job_name, len(closed), closed)
    return closed


def _release_claims(conn: psycopg.Connection, job_def: Job, run_id: int) -> int:
    if not job_def.release_claims:
        return 0
    module, _, function = job_def.release_claims.partition(":")
    return int(getattr(importlib.import_module(module), function)(conn, run_id) or 0)


@contextlib.contextmanager
def _job_lock(conn: psycopg.Connection, job_def: Job) -> Iterator[None]:
    if job_def.parallel:
        yield
        return
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_JOB_LOCK, job_def.name))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_JOB_LOCK, job_def.name))


def _done_concurrently(conn: psycopg.Connection, run_id: int, since: dt.datetime | None) -> int | None:
    """A run of the same job and night that finished while this one (or the night it belongs to, started at
    ``since``) was under way: it did the work. A later run of the night (a clear, a re-run) is not one."""
    row = conn.execute(
        """SELECT o.id FROM job_runs o, job_runs me
           WHERE me.id = %s AND o.id <> me.id AND o.job_name = me.job_name
             AND o.interval_start = me.interval_start AND o.interval_end = me.interval_end
             AND o.status IN ('succeeded', 'partial') AND o.finished_at >= coalesce(%s, me.started_at)
           ORDER BY o.finished_at DESC LIMIT 1""", (run_id, since)).fetchone()
    return int(row[0]) if row else None


@metrics.observe_job_runs  # every run's outcome, items, rows and seconds as metrics (auralink.metrics)
def run_job(name: str, params: dict[str, Any] | None = None, *, interval: DataInterval | None = None,
            triggered_by: str = "cli", url: str | None = None, now: dt.datetime | None = None,
            night_started: dt.datetime | None = None) -> dict[str, Any]:
    """Run a job for a night's interval (default: the current night), recording the run; returns its stats
    (with ``run_id`` and ``status``).

    Items that failed make the run ``partial`` (the batch went on); an exception fails the run and
    propagates, so an orchestrator's retry sees it. A current-only job asked for a past night, or a run
    whose work a concurrent run of the same night just did, is recorded as ``skipped``; ``night_started``
    (the database's time when a whole night began, e.g. ``auralink pipeline run``) widens "concurrent" to
    runs that finished since the night began, so two nights of the same date at once do each job once.
    """
    job_def = get_job(name)
    kwargs = coerce_params(job_def, params or {})
    interval = interval or latest_night(now)
    url = url or database_url()
    with connect(url, autocommit=True, application_name=f"auralink:{name}") as runs:
        close_abandoned_runs(runs, job_def)
        run_id = scalar(
            runs, "INSERT INTO job_runs (job_name, params, triggered_by, interval_start, interval_end) "
                  "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (name, Jsonb({k: str(v) for k, v in kwargs.items()}), triggered_by, interval.start, interval.end),
        )
        runs.execute("SELECT pg_advisory_lock(%s, %s)", (_RUN_LOCK, run_id))  # "alive" while this session lives
        ctx = JobContext(url=url, job_name=name, interval=interval, run_id=run_id, triggered_by=triggered_by,
                         log=logging.getLogger(f"auralink.job.{name}"), _outcomes=runs)
        started = time.monotonic()
        if job_def.current_only and not is_current(interval, now):
            reason = (f"{name} runs only for the current night ({latest_night(now)}); "
                      f"this run is for {interval}")
            return _skip(runs, run_id, interval, reason, ctx.log)
        # The outcome is recorded before the job lock is released: a run waiting for it then sees this one
        # finished and does not do the night's work again.
        with _job_lock(runs, job_def):
            # Parallel jobs claim their own items (their instances run side by side on purpose).
            done_by = None if job_def.parallel else _done_concurrently(runs, run_id, night_started)
            if done_by is not None:
                return _skip(runs, run_id, interval, f"run {done_by} of the same night finished it meanwhile",
                             ctx.log)
            try:
                stats = job_def.func(ctx, **kwargs) or {}
            except Exception as exc:
                with ctx._outcomes_lock:
                    _record(runs, run_id, "failed", error=f"{exc.__class__.__name__}: {exc}"[:4000])
                raise
            status = "partial" if ctx.item_counts.get("failed") else "succeeded"
            stats = {**stats, "interval": str(interval), "items": ctx.item_counts,
                     "seconds": round(time.monotonic() - started, 3)}
            with ctx._outcomes_lock:
                _record(runs, run_id, status, stats=stats)
    return {**stats, "run_id": run_id, "status": status}


def _skip(conn: psycopg.Connection, run_id: int, interval: DataInterval, reason: str,
          job_log: logging.Logger) -> dict[str, Any]:
    job_log.info("skipped: %s", reason)
    stats = {"interval": str(interval), "skipped": reason}
    _record(conn, run_id, "skipped", stats=stats)
    return {**stats, "run_id": run_id, "status": "skipped"}
