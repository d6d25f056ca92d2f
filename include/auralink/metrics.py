"""Job metrics over OpenTelemetry (OTLP over HTTP), the way Airflow's own metrics go.

Every job run passes through :func:`auralink.jobs.registry.run_job`, which reports here once it ends
(:func:`observe_job_runs`), so every job emits the same instruments whichever orchestrator ran it:

| instrument | kind | attributes |
|---|---|---|
| ``auralink.job.runs`` | counter | ``job``, ``status`` (succeeded, partial, failed, skipped) |
| ``auralink.job.items`` | counter | ``job``, ``outcome`` (succeeded, failed, skipped) |
| ``auralink.job.rows_written`` | counter | ``job`` (the run's ``rows_*`` figures, :data:`ROWS_WRITTEN_KEYS`) |
| ``auralink.job.duration`` | histogram, seconds | ``job``, ``status`` |

Configured by the standard OpenTelemetry variables, the same ones Airflow's metrics read:
``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (``http://collector:4318/v1/metrics``) or
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``http://collector:4318``), ``OTEL_SERVICE_NAME`` (default ``auralink``).
Without an endpoint nothing is set up. ``AURALINK_METRICS=off`` turns them off. Metrics never fail or slow
a job: errors are logged, and each run's export is flushed from a thread waited for at most
``AURALINK_METRICS_FLUSH_SECONDS`` (2).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from auralink import config

log = logging.getLogger(__name__)

# Stats keys that count rows a job wrote (its own figure names; summed when a job reports several).
ROWS_WRITTEN_KEYS = ("rows_written", "rows_affected", "rows_archived", "rows_moved_from_default", "rows_removed")

_lock = threading.Lock()
_state: dict[str, Any] = {}

F = TypeVar("F", bound=Callable[..., dict[str, Any]])


def endpoint() -> str | None:
    if (config.env("AURALINK_METRICS") or "").lower() in ("off", "false", "0"):
        return None
    explicit = config.env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    if explicit:
        return explicit
    base = config.env("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/metrics" if base else None


def _instruments() -> dict[str, Any] | None:
    url = endpoint()
    with _lock:
        if _state.get("url") == url:
            return _state.get("instruments")
        _shutdown_locked()
        _state["url"] = url
        _state["instruments"] = None
        if url is None:
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource

            # Our own provider, not the global one: in a task process Airflow's metrics own that.
            provider = MeterProvider(
                resource=Resource.create({SERVICE_NAME: config.env("OTEL_SERVICE_NAME") or "auralink"}),
                metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url),
                                                              export_interval_millis=60_000)])
            meter = provider.get_meter("auralink.jobs")
            _state["provider"] = provider
            _state["instruments"] = {
                "runs": meter.create_counter("auralink.job.runs", unit="1", description="job runs by outcome"),
                "items": meter.create_counter("auralink.job.items", unit="1", description="items by outcome"),
                "rows": meter.create_counter("auralink.job.rows_written", unit="1", description="rows written"),
                "duration": meter.create_histogram("auralink.job.duration", unit="s", description="run time"),
            }
        except Exception as exc:  # noqa: BLE001 - metrics must never stop a job
            log.warning("job metrics disabled: %s", exc)
        return _state["instruments"]


def rows_written(stats: dict[str, Any]) -> int:
    return int(sum(v for k, v in stats.items() if k in ROWS_WRITTEN_KEYS and isinstance(v, (int, float))))


def record_job_run(job: str, status: str, stats: dict[str, Any], seconds: float) -> None:
    """Count one finished run (never raises)."""
    try:
        instruments = _instruments()
        if instruments is None:
            return
        instruments["runs"].add(1, {"job": job, "status": status})
        for outcome, count in (stats.get("items") or {}).items():
            if count:
                instruments["items"].add(int(count), {"job": job, "outcome": outcome})
        rows = rows_written(stats)
        if rows:
            instruments["rows"].add(rows, {"job": job})
        instruments["duration"].record(float(stats.get("seconds") or seconds), {"job": job, "status": status})
        flush()
    except Exception as exc:  # noqa: BLE001
        log.warning("could not record metrics of %s: %s", job, exc)


def flush(timeout: float | None = None) -> None:
    """Export what was recorded now (task processes may end without running exit hooks)."""
    provider = _state.get("provider")
    if provider is None:
        return
    wait = timeout if timeout is not None else float(config.env("AURALINK_METRICS_FLUSH_SECONDS", "2") or 2)
    worker = threading.Thread(target=provider.force_flush, name="auralink-metrics-flush", daemon=True)
    worker.start()
    worker.join(wait)


def _shutdown_locked() -> None:
    provider = _state.pop("provider", None)
    if provider is not None:
        try:
            provider.shutdown(timeout_millis=2000)
        except Exception as exc:  # noqa: BLE001
            log.debug("metrics provider shutdown: %s", exc)


def reset() -> None:
    """Forget the exporter (tests; a process whose settings changed)."""
    with _lock:
        _shutdown_locked()
        _state.clear()


def observe_job_runs(run_job: F) -> F:
    """Wrap ``run_job(name, ...)``: its result and exceptions pass through untouched, and each run ends in
    :func:`record_job_run` (an exception is a ``failed`` run)."""

    @functools.wraps(run_job)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        name = str(args[0] if args else kwargs.get("name"))
        started = time.monotonic()
        try:
            result = run_job(*args, **kwargs)
        except BaseException:
            record_job_run(name, "failed", {}, time.monotonic() - started)
            raise
        record_job_run(name, str(result.get("status", "succeeded")), result, time.monotonic() - started)
        return result

    return wrapper  # type: ignore[return-value]
