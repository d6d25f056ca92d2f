"""Job registration, parameter coercion and run recording (``job_runs`` / ``job_run_items``).

Nightly stages order the pipeline (``auralink pipeline run`` and the demo); lower runs first:
  10 housekeeping (partitions)      20 recordings (transcribe, quality, summarize)
  30 analytics (dbt, AI costs)      40 billing and insights
  50 reports and security           60 compliance, retention, archival
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import json
import logging
import pkgutil
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink.db.connection import connect, database_url, scalar

log = logging.getLogger(__name__)


class UnknownJob(LookupError):
    pass


class JobFailed(RuntimeError):
    """The job as a whole failed (not one item of it); the run row carries the error."""


@dataclass
class JobContext:
    """What a job gets: where the database is, its run id, and a way to record per-item outcomes."""

    url: str
    job_name: str
    run_id: int | None = None
    triggered_by: str = "cli"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("auralink.job"))
    item_counts: dict[str, int] = field(default_factory=lambda: {"succeeded": 0, "failed": 0, "skipped": 0})

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        return connect(self.url, autocommit=autocommit, application_name=f"auralink:{self.job_name}")

    def record_item(self, item_type: str, item_id: Any, outcome: str, reason: str | None = None) -> None:
        """Record what happened to one item (own transaction, so it survives the item's rollback)."""
        self.item_counts[outcome] = self.item_counts.get(outcome, 0) + 1
        if outcome == "failed":
            self.log.warning("%s %s failed: %s", item_type, item_id, reason)
        elif outcome == "skipped":
            self.log.info("%s %s skipped: %s", item_type, item_id, reason)
        if self.run_id is None:
            return
        with connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO job_run_items (job_run_id, item_type, item_id, outcome, reason) VALUES (%s, %s, %s, %s, %s)",
                (self.run_id, item_type, str(item_id), outcome, reason),
            )


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[..., dict[str, Any]]
    help: str
    stage: int | None  # nightly stage; None: on demand only

    def parameters(self) -> dict[str, inspect.Parameter]:
        params = dict(inspect.signature(self.func).parameters)
        params.pop(next(iter(params)))  # the context
        return params


_JOBS: dict[str, Job] = {}
_discovered = False


def job(name: str, *, help: str = "", stage: int | None = None) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register ``fn(ctx, **params) -> stats`` as job ``name``."""

    def register(func: Callable[..., dict]) -> Callable[..., dict]:
        existing = _JOBS.get(name)
        if existing and existing.func.__module__ != func.__module__:
            raise ValueError(f"job {name!r} is defined twice: {existing.func.__module__} and {func.__module__}")
        doc = help or (inspect.getdoc(func) or "").split("\n", 1)[0]
        _JOBS[name] = Job(name, func, doc, stage)
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
    return sorted((j for j in all_jobs() if j.stage is not None), key=lambda j: (j.stage, j.name))


def get_job(name: str) -> Job:
    discover()
    try:
        return _JOBS[name]
    except KeyError:
        known = ", ".join(sorted(_JOBS)) or "none"
        raise UnknownJob(f"unknown job {name!r}; known jobs: {known}") from None


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in ("", "none", "null"):
            return None
        annotation = args[0] if args else str
    try:
        if annotation is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if annotation is int:
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is dt.date:
            return dt.date.fromisoformat(value)
        if annotation is dt.datetime:
            return dt.datetime.fromisoformat(value)
        if annotation in (list, dict) or typing.get_origin(annotation) in (list, dict):
            return json.loads(value)
    except ValueError:
        raise ValueError(f"parameter {name}={value!r} is not a valid {getattr(annotation, '__name__', annotation)}") from None
    return value


def coerce_params(job_def: Job, params: dict[str, Any]) -> dict[str, Any]:
    accepted = job_def.parameters()
    hints = typing.get_type_hints(job_def.func)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"job {job_def.name} has no parameter {', '.join(unknown)}; it takes: "
                         f"{', '.join(accepted) or 'none'}")
    return {k: _coerce(v, hints.get(k, str), k) for k, v in params.items()}


def run_job(name: str, params: dict[str, Any] | None = None, *, triggered_by: str = "cli",
            url: str | None = None) -> dict[str, Any]:
    """Run a job, recording the run; returns its stats (with ``run_id`` and ``status``).

    Items that failed make the run ``partial`` (the batch went on); an exception fails the run and
    propagates, so an orchestrator's retry sees it.
    """
    job_def = get_job(name)
    kwargs = coerce_params(job_def, params or {})
    url = url or database_url()
    with connect(url, autocommit=True) as conn:
        run_id = scalar(
            conn, "INSERT INTO job_runs (job_name, params, triggered_by) VALUES (%s, %s, %s) RETURNING id",
            (name, Jsonb({k: str(v) for k, v in kwargs.items()}), triggered_by),
        )
    ctx = JobContext(url=url, job_name=name, run_id=run_id, triggered_by=triggered_by,
                     log=logging.getLogger(f"auralink.job.{name}"))
    started = time.monotonic()
    try:
        stats = job_def.func(ctx, **kwargs) or {}
    except Exception as exc:
        with connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE job_runs SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
                (f"{exc.__class__.__name__}: {exc}"[:4000], run_id),
            )
        raise
    status = "partial" if ctx.item_counts.get("failed") else "succeeded"
    stats = {**stats, "items": ctx.item_counts, "seconds": round(time.monotonic() - started, 3)}
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE job_runs SET status = %s, finished_at = now(), stats = %s WHERE id = %s",
            (status, Jsonb(json.loads(json.dumps(stats, default=str))), run_id),
        )
    return {**stats, "run_id": run_id, "status": status}
