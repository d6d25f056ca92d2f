"""The shared Airflow glue: a DAG built with it retries, alerts, and (with the run-tracking listener)
is recorded in Postgres."""

from __future__ import annotations

import datetime as dt

import pytest
from auralink.orchestration import airflow_support


def test_default_args_have_retries_timeouts_and_alerts(monkeypatch):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    monkeypatch.setenv("AURALINK_ALERT_EMAILS", "oncall@auralink.example, second@auralink.example")
    args = airflow_support.default_args(retries=3, timeout_minutes=10)
    assert args["retries"] == 3 and args["retry_exponential_backoff"] is True
    assert args["execution_timeout"] == dt.timedelta(minutes=10)
    notifier = args["on_failure_callback"]
    assert isinstance(notifier, SmtpNotifier) and notifier.smtp_conn_id == "smtp_default"
    assert notifier.to == ["oncall@auralink.example", "second@auralink.example"]


def test_without_recipients_a_failure_is_logged_not_mailed(monkeypatch, caplog, capsys):
    monkeypatch.delenv("AURALINK_ALERT_EMAILS", raising=False)
    callback = airflow_support.default_args()["on_failure_callback"]
    assert callback is airflow_support.log_failure
    callback({"run_id": "r1", "exception": RuntimeError("boom")})
    # Airflow's structlog may own logging once airflow is imported: look at both sinks.
    assert "no alert e-mail configured" in caplog.text + capsys.readouterr().out


def test_the_failure_mail_goes_through_the_smtp_connection(monkeypatch):
    """SmtpNotifier over the smtp_default connection, to a real SMTP server (aiosmtpd) on 127.0.0.1."""
    import json

    from tests.receivers import message_text, smtp_receiver

    with smtp_receiver() as smtp:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": smtp.host, "port": smtp.port,
            "extra": {"from_email": "airflow@auralink.example", "disable_ssl": True, "disable_tls": True,
                      "retry_limit": 0}}))
        monkeypatch.setenv("AURALINK_ALERT_EMAILS", "oncall@auralink.example")
        notifier = airflow_support.default_args()["on_failure_callback"]

        class TI:
            dag_id, task_id, try_number = "nightly", "dbt_build", 3

        notifier({"ti": TI(), "task_instance": TI(), "run_id": "scheduled__2026", "exception": "boom"})
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["Subject"] == "[AuraLink] nightly.dbt_build failed" and message["To"] == "oncall@auralink.example"
    text = message_text(message)
    assert "Try: 3" in text and "Error: boom" in text and "Run: scheduled__2026" in text


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
