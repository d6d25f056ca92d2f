"""The shared Airflow glue: a DAG built with it retries, alerts, and (with the run-tracking listener)
is recorded in Postgres."""

from __future__ import annotations

import datetime as dt

import pytest
from auralink.orchestration import airflow_support


def test_default_args_have_retries_timeouts_and_alerts():
    args = airflow_support.default_args(retries=3, timeout_minutes=10)
    assert args["retries"] == 3 and args["retry_exponential_backoff"] is True
    assert args["execution_timeout"] == dt.timedelta(minutes=10)
    assert args["on_failure_callback"] is airflow_support.notify_failure


def test_failure_mail_without_smtp_is_logged_not_raised(monkeypatch, caplog, capsys):
    monkeypatch.delenv("AURALINK_SMTP_HOST", raising=False)
    monkeypatch.setenv("AURALINK_ALERT_EMAILS", "oncall@auralink.example")
    airflow_support.notify_failure({"run_id": "r1", "exception": RuntimeError("boom")})
    # Airflow's structlog may own logging once airflow is imported: look at both sinks.
    assert "no alert e-mail configured" in caplog.text + capsys.readouterr().out


def test_failure_mail_is_sent_over_smtp(monkeypatch):
    """A real SMTP conversation with a tiny server on 127.0.0.1."""
    import socket
    import threading

    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        f = conn.makefile("rwb")
        f.write(b"220 test\r\n"); f.flush()
        in_data = False
        for line in f:
            if in_data:
                received.append(line)
                if line == b".\r\n":
                    in_data = False
                    f.write(b"250 ok\r\n"); f.flush()
                continue
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO", b"MAIL", b"RCPT"):
                f.write(b"250 ok\r\n")
            elif cmd == b"DATA":
                in_data = True
                f.write(b"354 go\r\n")
            elif cmd == b"QUIT":
                f.write(b"221 bye\r\n"); f.flush()
                break
            f.flush()
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    monkeypatch.setenv("AURALINK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AURALINK_SMTP_PORT", str(port))
    monkeypatch.setenv("AURALINK_ALERT_EMAILS", "oncall@auralink.example")
    monkeypatch.setenv("AURALINK_SMTP_CONN_ID", "no_such_connection")

    class TI:
        dag_id, task_id, try_number = "analytics_processing", "dbt_build", 3

    airflow_support.notify_failure({"task_instance": TI(), "run_id": "scheduled__2026", "exception": "boom"})
    t.join(timeout=10)
    body = b"".join(received).decode()
    assert "Subject: [AuraLink] analytics_processing.dbt_build failed" in body
    assert "Try: 3" in body


GLUE_DAG = """
import datetime as dt
from airflow.sdk import dag, task
from auralink.orchestration import airflow_support


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False,
     default_args=airflow_support.default_args())
def glue_check():
    @task
    def partitions() -> dict:
        return airflow_support.run_job("ensure_partitions", months_ahead=1)

    partitions()


glue_check()
"""


@pytest.mark.slow
def test_a_dag_using_the_glue_runs_and_is_tracked(db_url, db, run_tracking_listener, run_dag_file):
    run = run_dag_file(GLUE_DAG, "glue_check")
    assert run.state == "success"
    assert db.execute("SELECT job_name, triggered_by, status FROM job_runs").fetchall() == [
        ("ensure_partitions", "airflow", "succeeded")]
    assert db.execute("SELECT dag_id, state FROM airflow_dag_runs").fetchall() == [("glue_check", "success")]
    assert db.execute("SELECT task_id, state FROM airflow_task_runs").fetchall() == [("partitions", "success")]
