"""Inside Airflow the project's database is the connection ``auralink_db``: given in JSON form or from a
secrets backend, it is what the tasks and dbt (Cosmos's profile mapping) use, and it wins over
DATABASE_URL, which here points at a decoy database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import psycopg
import pytest
from auralink.db.connection import libpq_params
from auralink.orchestration.connections import url_from_connection

ROOT = Path(__file__).resolve().parents[2]

DAG = '''
import datetime as dt
from airflow.sdk import dag
from auralink.jobs import get_job
from auralink.orchestration import airflow_dags, airflow_support


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), catchup=False,
     default_args=airflow_support.default_args(retries=0), user_defined_macros=airflow_dags.MACROS)
def connection_check():
    job = airflow_dags.job_task(get_job("ensure_partitions"))
    dbt = airflow_dags.dbt_task_group(get_job("dbt_build"), select=["stg_billing_plans"])
    job >> dbt


connection_check()
'''

RUN = '''
import datetime as dt, sys
from airflow.utils import db
db.resetdb()
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
DagBundlesManager().sync_bundles_to_db()
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=sys.argv[1], bundle_name="dags-folder")
assert not bag.import_errors, bag.import_errors
sync_bag_to_db(bag, "dags-folder", None)
run = bag.get_dag("connection_check").test(logical_date=dt.datetime.now(dt.UTC))
print("STATE", run.state, {ti.task_id: str(ti.state) for ti in run.get_task_instances()})
'''


def test_a_connection_becomes_a_libpq_url():
    tcp = types.SimpleNamespace(host="db.internal", port=6432, login="app", password="p@ss/w:rd", schema="auralink",
                                extra_dejson={"sslmode": "require"})
    assert libpq_params(url_from_connection(tcp)) == {"host": "db.internal", "port": "6432", "user": "app",
                                                      "password": "p@ss/w:rd", "dbname": "auralink"}
    assert url_from_connection(tcp).endswith("?sslmode=require")
    socket = types.SimpleNamespace(host="/var/lib/auralink/pgdata", port=None, login="postgres", password=None,
                                   schema="auralink", extra_dejson={})
    assert libpq_params(url_from_connection(socket))["host"] == "/var/lib/auralink/pgdata"


def _connection(url: str) -> dict:
    p = libpq_params(url)
    return {"conn_type": "postgres", "host": p["host"], "port": int(p["port"]), "login": p["user"],
            "password": p["password"], "schema": p["dbname"]}


def _run_dag(tmp_path: Path, env: dict[str, str]) -> str:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "connection_check.py").write_text(DAG)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env = {**base, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False", "AIRFLOW__COSMOS__CACHE_DIR": str(tmp_path / "cosmos"),
           "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", RUN, str(folder)], check=False, env=env, capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert "STATE success" in out.stdout, (out.stdout[-3000:], out.stderr[-5000:])
    return out.stdout


def _landed(url: str) -> tuple[int, bool]:
    with psycopg.connect(url, autocommit=True) as conn:
        runs = conn.execute("SELECT count(*) FROM job_runs WHERE triggered_by = 'airflow'").fetchone()[0]
        view = conn.execute("SELECT to_regclass('analytics_staging.stg_billing_plans') IS NOT NULL").fetchone()[0]
    return runs, view


@pytest.fixture
def decoy_and_real(least_privilege_url, db_url):
    """The connection's database (a role with a password that owns it) and a decoy in DATABASE_URL."""
    from auralink.db.migrate import migrate

    migrate(least_privilege_url)
    return db_url, least_privilege_url


@pytest.mark.slow
def test_a_json_connection_is_what_tasks_and_dbt_use(decoy_and_real, tmp_path):
    decoy, real = decoy_and_real
    _run_dag(tmp_path, {"DATABASE_URL": decoy, "AIRFLOW_CONN_AURALINK_DB": json.dumps(_connection(real))})
    assert _landed(real) == (1, True)
    assert _landed(decoy) == (0, False)


@pytest.mark.slow
def test_a_connection_from_a_secrets_backend_is_what_tasks_and_dbt_use(decoy_and_real, tmp_path):
    decoy, real = decoy_and_real
    secrets_file = tmp_path / "connections.json"
    secrets_file.write_text(json.dumps({"auralink_db": _connection(real)}))
    _run_dag(tmp_path, {
        "DATABASE_URL": decoy,
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(secrets_file)}),
    })
    assert _landed(real) == (1, True)
    assert _landed(decoy) == (0, False)
