"""Metrics: every job run's counters and timings, and Airflow's own metrics, arrive at a local OTLP/HTTP
listener on 127.0.0.1 (what an OpenTelemetry collector receives)."""

from __future__ import annotations

import atexit

import pytest

from tests.receivers import HttpReceiver, http_receiver


def metric_points(receiver: HttpReceiver) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric name -> [(attributes, value)] from every OTLP export the listener got (cumulative sums:
    the value of a point is the total so far)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for path, _, body in receiver.requests:
        assert path == "/v1/metrics"
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        attrs = {a.key: a.value.string_value for a in point.attributes}
                        value = (point.sum if kind in ("histogram", "exponential_histogram")
                                 else (point.as_int if point.HasField("as_int") else point.as_double))
                        out.setdefault(metric.name, []).append((attrs, float(value)))
    return out


def latest(points: list[tuple[dict[str, str], float]], **attrs: str) -> float | None:
    matching = [v for a, v in points if all(a.get(k) == w for k, w in attrs.items())]
    return matching[-1] if matching else None


@pytest.fixture
def otlp(monkeypatch):
    from auralink import metrics

    with http_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{receiver.url}/v1/metrics")
        metrics.reset()
        yield receiver
        metrics.reset()


def test_every_job_run_reports_outcome_items_rows_and_seconds(db_url, otlp):
    from auralink.jobs import JobFailed, run_job

    done = run_job("detect_security_events")                  # one succeeded item per rule
    with pytest.raises(JobFailed):
        run_job("ai_usage_costs")                            # no mart built yet: the job fails
    points = metric_points(otlp)
    assert latest(points["auralink.job.runs"], job="detect_security_events", status="succeeded") == 1
    assert latest(points["auralink.job.runs"], job="ai_usage_costs", status="failed") == 1
    created = done["items"]["succeeded"]
    assert created > 0 and latest(points["auralink.job.items"], job="detect_security_events",
                                         outcome="succeeded") == created
    seconds = latest(points["auralink.job.duration"], job="detect_security_events", status="succeeded")
    assert seconds is not None and 0 < seconds <= done["seconds"] + 0.001


def test_rows_written_come_from_the_runs_own_figures():
    from auralink import metrics

    assert metrics.rows_written({"rows_written": 5, "rows_removed": 2, "days": 9, "rows_affected": "x"}) == 7


def test_no_endpoint_no_exporter(monkeypatch):
    from auralink import metrics

    for var in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    metrics.reset()
    metrics.record_job_run("x", "succeeded", {"items": {"succeeded": 1}}, 0.1)
    assert metrics._state.get("instruments") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AURALINK_METRICS", "off")
    assert metrics.endpoint() is None


GLUE_DAG = """
import datetime as dt
from airflow.sdk import dag, task
from auralink.orchestration import airflow_support


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False, default_args=airflow_support.default_args())
def metrics_check():
    @task
    def partitions() -> dict:
        return airflow_support.run_job("ensure_partitions", months_ahead=1)

    partitions()


metrics_check()
"""


@pytest.mark.slow
def test_a_dag_run_sends_airflows_metrics_and_the_jobs_to_the_same_listener(db_url, otlp, monkeypatch, run_dag_file):
    """What docker-compose and the local Airflow switch on: [metrics] otel_on and the OTLP endpoint."""
    from airflow._shared.observability.metrics import otel_logger, stats
    from airflow.observability.metrics import stats_utils
    from opentelemetry import metrics as otel_metrics

    monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", "True")
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)  # as each component does
    try:
        run = run_dag_file(GLUE_DAG, "metrics_check")
        assert run.state == "success"
        otel_metrics.get_meter_provider().force_flush()   # Airflow's provider (the global one)
    finally:
        # Airflow's provider is the process's global one, flushed at interpreter exit: by then this test's
        # listener is long gone, so stop both here.
        atexit.unregister(otel_logger.flush_otel_metrics)
        provider = otel_metrics.get_meter_provider()
        if hasattr(provider, "shutdown"):
            provider.shutdown()
        monkeypatch.delenv("AIRFLOW__METRICS__OTEL_ON")
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    points = metric_points(otlp)
    airflow_names = {n for n in points if n.startswith("airflow.")}
    assert airflow_names, sorted(points)
    assert any(n.startswith(("airflow.dagrun.duration", "airflow.ti")) for n in airflow_names), airflow_names
    assert latest(points["auralink.job.runs"], job="ensure_partitions", status="succeeded") == 1
