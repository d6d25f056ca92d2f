"""The pieces of `auralink airflow up` that need no running Airflow: URLs, settings, secrets, stopping."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from auralink.orchestration import local_airflow as la


def _config(tmp_path: Path, url: str = "postgresql://app:s3cret-pw@db.example:5433/auralink", **kw) -> la.LocalAirflowConfig:
    return la.LocalAirflowConfig.for_project(home=tmp_path / "airflow", database_url=url, **kw)


def test_metadata_database_sits_beside_the_projects_for_tcp_and_socket_urls():
    assert la.database_url_for("postgresql://u:p@h:5433/auralink", "airflow") == "postgresql://u:p@h:5433/airflow"
    # The embedded pgserver's Unix-socket URL keeps its socket directory.
    socket_url = la.database_url_for("postgresql://postgres:@/auralink?host=/srv/pgdata", "airflow")
    assert socket_url == "postgresql://postgres:@/airflow?host=%2Fsrv%2Fpgdata"
    from auralink.db.connection import libpq_params

    assert libpq_params(socket_url)["host"] == "/srv/pgdata" and libpq_params(socket_url)["dbname"] == "airflow"
    assert la.sqlalchemy_url(socket_url).startswith("postgresql+psycopg://postgres:@/airflow?host=")


def test_parallelism_is_sized_for_small_machines():
    assert la.default_parallelism(1) == 2
    assert la.default_parallelism(2) == 4
    assert la.default_parallelism(64) == 32


def test_ensure_database_creates_once(db_url):
    name = f"auralink_t_meta_{uuid.uuid4().hex[:8]}"
    url = la.database_url_for(db_url, name)
    try:
        assert la.ensure_database(url, admin_url=db_url) is True
        assert la.ensure_database(url, admin_url=db_url) is False
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_child_environment(tmp_path):
    cfg = _config(tmp_path, port=18123, parallelism=3)
    base = {"PATH": "/usr/bin", "AIRFLOW__CORE__PARALLELISM": "7", "AIRFLOW_CONN_SMTP_DEFAULT": "smtp://x",
            "AIRFLOW_CONFIG": "/elsewhere/airflow.cfg", "AIRFLOW_HOME": "/elsewhere"}
    env = la.airflow_env(cfg, base)
    assert env["AIRFLOW_HOME"] == str(cfg.home)
    assert "AIRFLOW_CONFIG" not in env
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "7"  # what the user exported wins over the derived value
    assert env["AIRFLOW_CONN_SMTP_DEFAULT"] == "smtp://x"
    assert env["AIRFLOW__CORE__EXECUTOR"] == la.PRELOADING_EXECUTOR  # a LocalExecutor
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert env["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"  # the producer saves its backup on failure
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://app:s3cret-pw@db.example:5433/airflow"
    assert env["DATABASE_URL"] == "postgresql://app:s3cret-pw@db.example:5433/auralink"
    # What `airflow standalone` reads: the port, this interpreter's `airflow` first on PATH, the docs site.
    assert env["AIRFLOW__API__PORT"] == "18123" and env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert json.loads(env["AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"]) == {
        "auralink": {"dir": str(cfg.docs_dir), "index": "index.html", "name": "dbt Docs"}}
    assert "AIRFLOW__METRICS__OTEL_ON" not in env  # no collector configured: no metrics
    with_metrics = la.airflow_env(_config(tmp_path, metrics_endpoint="http://127.0.0.1:4318"), base)
    assert with_metrics["AIRFLOW__METRICS__OTEL_ON"] == "True"
    assert with_metrics["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    # Secrets are made once, kept owner-only, and stable across restarts (stored connections stay readable).
    secrets_file = cfg.home / la.SECRETS_FILE
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert la.airflow_env(cfg, base)["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32


def test_the_dbt_docs_site_gets_a_page_inside_the_ui(monkeypatch, tmp_path):
    from auralink.orchestration import dbt_docs

    monkeypatch.setenv("AIRFLOW__COSMOS__DBT_DOCS_PROJECTS", dbt_docs.projects_setting(tmp_path))
    assert dbt_docs.external_views() == [{"name": "dbt Docs", "category": "Browse", "url_route": "dbt-docs",
                                          "href": "/cosmos/auralink/dbt_docs_index.html"}]
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example/tools/airflow/")
    assert dbt_docs.external_views()[0]["href"] == "/tools/airflow/cosmos/auralink/dbt_docs_index.html"
    monkeypatch.setenv("AIRFLOW__COSMOS__DBT_DOCS_PROJECTS", "not json")
    assert dbt_docs.external_views() == []


def test_admin_password_file_is_private_and_kept(tmp_path):
    path = tmp_path / la.PASSWORDS_FILE
    la.ensure_admin_password(path)
    first = json.loads(path.read_text())["admin"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 12
    la.ensure_admin_password(path)
    assert la.read_admin_password(tmp_path) == first


def test_log_tails_are_redacted(tmp_path):
    airflow = la.LocalAirflow(_config(tmp_path))
    log = tmp_path / "x.log"
    log.write_text(f"conn postgresql://app:s3cret-pw@db/x jwt={airflow.env['AIRFLOW__API_AUTH__JWT_SECRET']}\n")
    tail = airflow.log_tail(log)
    assert "s3cret-pw" not in tail and airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"] not in tail


def test_stop_ends_processes_that_left_the_components_process_group(tmp_path):
    """Airflow's task supervisors move to process groups of their own: stop() must still end them."""
    airflow = la.LocalAirflow(_config(tmp_path))
    pid_file = tmp_path / "grandchild.pid"
    grandchild_code = tmp_path / "grandchild.py"
    grandchild_code.write_text(
        "import os, pathlib, time\n"
        "os.setpgid(0, 0)  # what Airflow's task supervisor does\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(600)\n")
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, {str(grandchild_code)!r}]); time.sleep(600)"
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    log_file = open(tmp_path / "s.log", "a")  # noqa: SIM115 - stop() closes it, as for a real component
    airflow.components["scheduler"] = la._Component("scheduler", process, tmp_path / "s.log", log_file)
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    assert os.getpgid(grandchild) != process.pid  # it really left the group
    airflow.stop(timeout=2)
    assert process.poll() is not None
    assert not la._session_members(process.pid)
    # Gone, or a zombie waiting for init to reap it (its parent is gone): either way no longer running.
    assert not Path(f"/proc/{grandchild}").exists() or la._is_zombie(grandchild)


def test_cli_status_and_password_without_a_running_airflow(tmp_path, capsys):
    from auralink.cli import main

    assert main(["airflow", "status", "--home", str(tmp_path)]) == 1
    assert "no local Airflow running" in capsys.readouterr().out
    assert main(["airflow", "password", "--home", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("auralink: error: no password file yet")
    la.ensure_admin_password(tmp_path / la.PASSWORDS_FILE)
    assert main(["airflow", "password", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == la.read_admin_password(tmp_path)


def test_the_execution_api_is_asked_once_before_the_first_task():
    import http.server
    import socket
    import threading

    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert la.warm_execution_api(f"http://127.0.0.1:{server.server_port}")
        assert asked == ["/execution/health/ping"]
    finally:
        server.shutdown()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert not la.warm_execution_api(f"http://127.0.0.1:{closed}", timeout=1)
