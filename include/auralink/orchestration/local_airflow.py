"""A local Airflow 3 on the project's DAGs, for people and tests: ``airflow standalone`` plus what it lacks.

``airflow standalone`` runs the metadata migration and every component (scheduler, dag-processor,
api-server, triggerer) under one parent, with LocalExecutor and SimpleAuthManager. This module only adds
what standalone does not do: it derives the settings from the project (AIRFLOW_HOME under the project's
home, dags/ and plugins/ of the checkout, the metadata database ``airflow`` on the project's PostgreSQL
server, created if missing, a parallelism sized for small machines, the port, the dbt docs site), keeps the
secrets every component shares stable across restarts (a 0600 file, never printed), writes the admin
password before the first start so it never reaches a log, migrates the project's schema and writes the dbt
manifest and docs the DAGs and the UI read, waits for ``/api/v2/monitor/health``, creates the project's
pools, and stops everything a task left behind.

This module does not import Airflow: Airflow reads its settings at import time, so only the child process,
started with the right environment, imports it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from auralink import config

log = logging.getLogger(__name__)

METADATA_DB_NAME = "airflow"
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
SECRETS_FILE = "auralink-local-secrets.json"  # in AIRFLOW_HOME, mode 0600
STATE_FILE = "local-airflow.json"  # pid and port of a running `auralink airflow up`, for status/stop
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"  # SimpleAuthManager's default name
ADMIN_USER = "admin"
STANDALONE = "standalone"  # the one child: `airflow standalone` (its components are its children)
PRELOADING_EXECUTOR = "auralink.orchestration.preloading_executor.PreloadingLocalExecutor"


class LocalAirflowError(RuntimeError):
    """Local Airflow could not start (the message says which component and where its log is)."""


def default_parallelism(cpus: int | None = None) -> int:
    """Task slots for a small machine: two per core (tasks mostly wait on PostgreSQL), 2 to 32.

    Airflow's default of 32 starts 32 task processes at once, each importing Airflow, Cosmos and dbt:
    on 2 cores that thrashes instead of finishing sooner.
    """
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(2, min(32, 2 * cpus))


def database_url_for(url: str, dbname: str) -> str:
    """The same server and credentials as ``url`` with another database name.

    Works for TCP URLs and for the embedded server's Unix-socket URLs
    (``postgresql://postgres:@/auralink?host=/dir``): only the path changes, the socket stays in the query.
    """
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items() if k != "dbname"}
    return urlunsplit(parts._replace(path=f"/{dbname}", query=urlencode(query, doseq=True)))


def sqlalchemy_url(url: str) -> str:
    """A libpq URL as SQLAlchemy's, on the psycopg 3 driver (what Airflow's metadata connection wants)."""
    from auralink.db.connection import normalize_url
    from auralink.db.connection import sqlalchemy_url as _sqlalchemy_url

    return _sqlalchemy_url(normalize_url(url))


def ensure_database(url: str, admin_url: str | None = None) -> bool:
    """Create the database ``url`` names if it does not exist; returns whether it was created.

    ``admin_url`` is any existing database on the same server (default: its ``postgres`` database).
    """
    import psycopg
    from psycopg import sql

    from auralink.db.connection import libpq_params

    dbname = libpq_params(url)["dbname"]
    admin = admin_url or database_url_for(url, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    log.info("created database %s for Airflow's metadata", dbname)
    return True


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600: never world-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def ensure_secrets(home: Path) -> dict[str, str]:
    """The JWT secret, Fernet key and api secret key of this AIRFLOW_HOME, generated on first use.

    Every component must share the JWT secret (the scheduler signs task tokens the api-server checks)
    and the Fernet key (connections encrypted by one are read by another); keeping them in AIRFLOW_HOME
    keeps them stable across restarts, so stored connections stay readable.
    """
    path = home / SECRETS_FILE
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    home.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(values))
    return values


def ensure_admin_password(path: Path) -> None:
    """Write the admin password file SimpleAuthManager reads, 0600, if it does not exist yet.

    Left to itself the api-server generates the password and prints it into its log (and writes the
    file world-readable); a password already in the file is used as is and never printed.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}) + "\n")


@dataclass(frozen=True)
class LocalAirflowConfig:
    """Everything a local Airflow needs; :meth:`for_project` fills it from the checkout and environment."""

    home: Path
    database_url: str  # the project's database: tasks get it as DATABASE_URL and the auralink_db connection
    metadata_url: str  # Airflow's own database (libpq URL)
    dags_folder: Path
    plugins_folder: Path
    docs_dir: Path     # the dbt docs site the UI serves (Cosmos's plugin) and the dbt_docs job writes
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    parallelism: int = field(default_factory=default_parallelism)
    metrics_endpoint: str | None = None  # OTLP/HTTP: Airflow's metrics and the jobs' go there
    # Overrides applied last (AIRFLOW__SECTION__KEY=value), e.g. from a test.
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_project(cls, *, home: Path | None = None, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST,
                    database_url: str | None = None, metadata_url: str | None = None,
                    parallelism: int | None = None, metrics_endpoint: str | None = None,
                    extra_env: Mapping[str, str] | None = None) -> LocalAirflowConfig:
        from auralink.analytics.dbt_runner import docs_dir
        from auralink.db.connection import database_url as project_database_url
        from auralink.db.connection import normalize_url

        root = config.project_root()
        db = normalize_url(database_url) if database_url else project_database_url()
        return cls(
            home=(home or config.home() / "airflow").resolve(),
            database_url=db,
            metadata_url=normalize_url(metadata_url) if metadata_url else database_url_for(db, METADATA_DB_NAME),
            dags_folder=root / "dags",
            plugins_folder=root / "plugins",
            docs_dir=docs_dir(),
            port=port,
            host=host,
            parallelism=parallelism or default_parallelism(),
            metrics_endpoint=metrics_endpoint or config.env("OTEL_EXPORTER_OTLP_ENDPOINT"),
            extra_env=dict(extra_env or {}),
        )

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.home / PASSWORDS_FILE

    @property
    def log_dir(self) -> Path:
        return self.home / "logs" / "components"


def connection_json(url: str) -> str:
    """Airflow's JSON form of a postgres connection for a libpq URL (a socket directory as its host)."""
    from auralink.db.connection import libpq_params

    p = libpq_params(url)
    return json.dumps({"conn_type": "postgres", "host": p["host"], "port": int(p["port"]), "login": p["user"],
                       "password": p["password"], "schema": p["dbname"]})


def airflow_env(cfg: LocalAirflowConfig, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``airflow standalone`` (and so of every component and task).

    Settings Airflow users export themselves (``AIRFLOW__SECTION__KEY``, ``AIRFLOW_CONN_*`` in
    ``base_env``) are kept and win over the derived defaults, so one can still tune a local run;
    ``extra_env`` wins over both.
    """
    from auralink.orchestration.dbt_docs import projects_setting

    env = dict(os.environ if base_env is None else base_env)
    env.pop("AIRFLOW_CONFIG", None)  # the airflow.cfg of this home, not one configured for another install
    cpus = os.cpu_count() or 1
    secret = ensure_secrets(cfg.home)
    derived = {
        # standalone forces a local executor only when the configured one is not; say which. The
        # LocalExecutor whose forked task processes start with Great Expectations and dbt imported.
        "AIRFLOW__CORE__EXECUTOR": PRELOADING_EXECUTOR,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(cfg.metadata_url),
        "AIRFLOW__CORE__DAGS_FOLDER": str(cfg.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(cfg.plugins_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(cfg.parallelism),
        "AIRFLOW__API__HOST": cfg.host,
        "AIRFLOW__API__PORT": str(cfg.port),
        # Task processes reach the api-server's execution API: it must follow the port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.base_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(cfg.password_file),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(max(1, min(2, cpus))),
        # Every task parses its DAG file again before it runs (Airflow 3's task runner), and the nightly
        # DAG (Cosmos renders a task per dbt node) takes seconds of CPU to parse: on a busy 2-core machine
        # that overran the 30 s default, and each such task was rescheduled, minutes later.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        # The dag-processor re-parses every file every 30 s by default: with the nightly DAG that took a
        # good part of a core away from the night's tasks. An edited DAG file is still parsed at once
        # (file_parsing_sort_mode modified_time); a changed dbt manifest is seen within 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # no phoning home (and no network here)
        # The dbt producer keeps what it tells the model tasks in memory, saved to an Airflow Variable when
        # it fails (Cosmos's failure callback), not rewritten whole after every node: that cost two API
        # calls per node, a good part of the producer's time. Lost only if the producer is killed
        # outright; its retry then has each unfinished model task run its model alone (Cosmos's fallback).
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        # Cosmos keeps dbt's partial-parse cache per DAG under /tmp/cosmos by default, shared with every
        # other dbt run on the machine (tests, other checkouts): a cache written for another database is
        # "profile has changed" and each task re-parses the whole project. One cache per home avoids that.
        "AIRFLOW__COSMOS__CACHE_DIR": str(cfg.home / "cosmos-cache"),
        # The dbt docs site inside the UI (Browse -> dbt Docs), from where the dbt_docs job writes it.
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": projects_setting(cfg.docs_dir),
        "AURALINK_DBT_DOCS_DIR": str(cfg.docs_dir),
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
        "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
        "AIRFLOW__API__SECRET_KEY": secret["api_secret_key"],
    }
    if cfg.metrics_endpoint:
        # Airflow's OpenTelemetry metrics and the jobs' (auralink.metrics) to the same collector.
        derived.update({"AIRFLOW__METRICS__OTEL_ON": "True", "OTEL_EXPORTER_OTLP_ENDPOINT": cfg.metrics_endpoint,
                        "OTEL_SERVICE_NAME": "airflow"})
    for key, value in derived.items():
        env.setdefault(key, value)
    # The project's database the Airflow way: the connection auralink_db (a user's own one wins).
    env.setdefault("AIRFLOW_CONN_AURALINK_DB", connection_json(cfg.database_url))
    env.update({
        "AIRFLOW_HOME": str(cfg.home),
        "DATABASE_URL": cfg.database_url,  # and for `auralink` commands a task might run outside Airflow's API
        "PYTHONUNBUFFERED": "1",  # component logs appear as they happen
        # standalone starts each component as `airflow ...` from PATH: this interpreter's, not another.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
    })
    env.update(cfg.extra_env)
    return env


def _redactor(cfg: LocalAirflowConfig, env: Mapping[str, str]):
    """Replace every secret this module knows of in a text (log tails shown on failure)."""
    from auralink.db.connection import libpq_params

    known = [env.get(k, "") for k in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY",
                                     "AIRFLOW__API__SECRET_KEY")]
    known += [libpq_params(cfg.database_url)["password"], libpq_params(cfg.metadata_url)["password"]]
    known = [k for k in known if len(k) >= 4]

    def redact(text: str) -> str:
        for value in known:
            text = text.replace(value, "***")
        return text

    return redact


def _airflow_command(*args: str) -> list[str]:
    """``airflow ARGS`` with this interpreter (the venv's Airflow, whatever is on PATH)."""
    return [sys.executable, "-m", "airflow", *args]


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: TextIO


class LocalAirflow:
    """Start, watch and stop a local Airflow; a context manager (``with LocalAirflow(cfg) as af:``)."""

    def __init__(self, cfg: LocalAirflowConfig, *, base_env: Mapping[str, str] | None = None):
        self.cfg = cfg
        self.env = airflow_env(cfg, base_env)
        self.redact = _redactor(cfg, self.env)
        self.components: dict[str, _Component] = {}
        self._token: str | None = None

    # --- setup: what standalone does not do --------------------------------------------------------

    def prepare(self, *, migrate_project: bool = True) -> None:
        """Idempotent: the project's schema, the metadata database, the dbt manifest and docs site."""
        self.cfg.home.mkdir(parents=True, exist_ok=True)
        self.cfg.log_dir.mkdir(parents=True, exist_ok=True)
        ensure_admin_password(self.cfg.password_file)
        if migrate_project:
            from auralink.db.migrate import migrate

            migrate(self.cfg.database_url)
        ensure_database(self.cfg.metadata_url, admin_url=self._admin_url())
        # The DAG file reads dbt_project/target/manifest.json at parse time; writing it here (a dbt
        # parse only when a model changed) keeps the dag-processor inside its import timeout.
        from auralink.analytics.dbt_runner import ensure_manifest, generate_docs

        ensure_manifest()
        if not (self.cfg.docs_dir / "index.html").exists():  # the UI's page works before the first night
            with _env({"AURALINK_DBT_DOCS_DIR": str(self.cfg.docs_dir)}):
                generate_docs(empty_catalog=True)

    def _ensure_pools(self) -> None:
        """Create the project's pools through the REST API (an `airflow pools set` costs a CLI start).

        The scheduler never runs tasks of a pool that does not exist (call_recording_processing uses
        one); an existing pool is left as it is, with whatever size someone gave it.
        """
        from auralink.recordings.orchestration import TRANSCRIPTION_POOL, TRANSCRIPTION_POOL_SLOTS

        status = self.api("POST", "/api/v2/pools", {
            "name": TRANSCRIPTION_POOL, "slots": TRANSCRIPTION_POOL_SLOTS,
            "description": "Parallel speech-to-text (CPU bound)", "include_deferred": False,
        }, ok=(409,))[0]
        if status == 201:
            log.info("created pool %s (%d slots)", TRANSCRIPTION_POOL, TRANSCRIPTION_POOL_SLOTS)

    # --- REST API ---------------------------------------------------------------------------------

    def api_token(self) -> str:
        """A JWT for the admin user (POST /auth/token with the generated password)."""
        if self._token is None:
            _, body = self.api("POST", "/auth/token", {"username": ADMIN_USER, "password": self.admin_password()},
                               auth=False)
            self._token = str(body["access_token"])
        return self._token

    def api(self, method: str, path: str, body: Any = None, *, auth: bool = True,
            ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        """One REST call; returns (status, decoded JSON). Non-2xx statuses not in ``ok`` raise."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.api_token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.cfg.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return exc.code, None
            raise LocalAirflowError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None

    def _admin_url(self) -> str:
        """An existing database on the metadata server: the project's when they share a server."""
        from auralink.db.connection import libpq_params

        same = {k: v for k, v in libpq_params(self.cfg.metadata_url).items() if k != "dbname"} == {
            k: v for k, v in libpq_params(self.cfg.database_url).items() if k != "dbname"}
        return self.cfg.database_url if same else database_url_for(self.cfg.metadata_url, "postgres")

    # --- the standalone process -------------------------------------------------------------------

    def start(self, *, timeout: float = 180, migrate_project: bool = True,
              stop_event: threading.Event | None = None) -> None:
        """Prepare, start ``airflow standalone``, and return once the health endpoint says all are healthy.

        ``stop_event`` (set by a signal handler) abandons the wait: Ctrl-C during startup stops cleanly.
        """
        if _port_in_use(self.cfg.host, self.cfg.port):
            raise LocalAirflowError(f"port {self.cfg.port} is already in use (choose another with --port)")
        self.prepare(migrate_project=migrate_project)
        log_path = self.cfg.log_dir / f"{STANDALONE}.log"
        fh = open(log_path, "a")  # noqa: SIM115 - kept open for the child's lifetime, closed in stop()
        fh.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} airflow standalone\n")
        fh.flush()
        # Own session: Ctrl-C in the terminal reaches only us, and we stop standalone ourselves; the
        # session also finds every process a component or task starts (see stop()).
        process = subprocess.Popen(_airflow_command(STANDALONE), env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.components[STANDALONE] = _Component(STANDALONE, process, log_path, fh)
        self._write_state()
        try:
            self.wait_healthy(timeout=timeout, stop_event=stop_event)
            warm_execution_api(self.cfg.base_url)
            self._ensure_pools()
        except BaseException:
            self.stop()
            raise

    def health(self) -> dict[str, Any] | None:
        return fetch_health(self.cfg.base_url)

    def wait_healthy(self, timeout: float = 180, stop_event: threading.Event | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if stop_event is not None and stop_event.is_set():
                raise LocalAirflowError("stopped before Airflow was healthy")
            self.check_alive()
            last = self.health()
            if last is not None and not unhealthy_components(last):
                return last
            time.sleep(1)
        waiting = unhealthy_components(last) if last else ["api-server"]
        raise LocalAirflowError(f"Airflow was not healthy after {timeout:.0f} s (waiting for: "
                                f"{', '.join(waiting)}); log: {self.cfg.log_dir / (STANDALONE + '.log')}")

    def check_alive(self) -> None:
        """Raise if standalone has exited (with the tail of its log, secrets redacted)."""
        for c in self.components.values():
            code = c.process.poll()
            if code is not None:
                raise LocalAirflowError(f"{c.name} exited with code {code}; log: {c.log_path}\n"
                                        f"{self.log_tail(c.log_path)}")

    def log_tail(self, path: Path, lines: int = 30) -> str:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return ""
        return self.redact("\n".join(text.splitlines()[-lines:]))

    def stop(self, timeout: float = 30) -> None:
        """Stop standalone as Ctrl-C does (SIGINT: it terminates its components and waits for them), then
        end whatever is left in its session (task processes), SIGKILL last.

        The child leads its own session, and everything it starts stays in that session even when it
        moves to a process group of its own (Airflow's task supervisors do): the session, not the group,
        is what reliably finds a running task's processes.
        """
        ordered = list(self.components.values())
        for c in ordered:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                c.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for c in ordered:
            try:
                c.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", c.name, timeout)
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            left = [pid for c in ordered for pid in _session_members(c.process.pid)]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            end = time.monotonic() + grace
            while time.monotonic() < end and any(_session_members(c.process.pid) for c in ordered):
                time.sleep(0.2)
        for c in ordered:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.process.wait(timeout=5)
            c.log_file.close()
        self.components.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.cfg.home / STATE_FILE).unlink()

    def admin_password(self) -> str:
        return read_admin_password(self.cfg.home)

    def _write_state(self) -> None:
        state = {"pid": os.getpid(), "url": self.cfg.base_url, "port": self.cfg.port,
                 "started_at": dt.datetime.now(dt.UTC).isoformat(),
                 "components": {n: c.process.pid for n, c in self.components.items()}}
        (self.cfg.home / STATE_FILE).write_text(json.dumps(state, indent=2))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _session_members(sid: int) -> list[int]:
    """Live processes of the session ``sid`` (Linux /proc; elsewhere only the leader's group is known)."""
    members = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        try:
            if os.getsid(pid) == sid and not _is_zombie(pid):
                members.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"  # state follows the command name in parentheses


def _port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


def fetch_health(base_url: str, timeout: float = 5) -> dict[str, Any] | None:
    """``/api/v2/monitor/health`` (no login needed), or None while the api-server does not answer."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=timeout) as resp:
            body: dict[str, Any] = json.load(resp)
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return None


def warm_execution_api(base_url: str, timeout: float = 60) -> bool:
    """Ask the task execution API once; returns whether it answered.

    It builds its versioned routes (Cadwyn) at its first request, seconds of CPU during which that
    request, and every task start queued behind it, waits: asked here, the first task of the first night
    does not pay for it.
    """
    try:
        with urllib.request.urlopen(f"{base_url}/execution/health/ping", timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def unhealthy_components(health: Mapping[str, Any]) -> list[str]:
    """The components the health answer does not (yet) report healthy (standalone runs all four)."""
    wanted = ["metadatabase", "scheduler", "dag_processor", "triggerer"]
    return [name for name in wanted if (health.get(name) or {}).get("status") != "healthy"]


def read_admin_password(home: Path) -> str:
    """The generated admin password of an AIRFLOW_HOME (the api-server writes it at its first start)."""
    path = home / PASSWORDS_FILE
    try:
        passwords: dict[str, str] = json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalAirflowError(f"no password file yet at {path}: start Airflow once (`auralink airflow up`)") from None
    return passwords[ADMIN_USER]


def running_instance(home: Path) -> dict[str, Any] | None:
    """What a running local Airflow of this home wrote about itself (pid, url), if it still runs."""
    try:
        state: dict[str, Any] = json.loads((home / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state if _is_ours(int(state.get("pid", 0))) else None


def _is_ours(pid: int) -> bool:
    """The pid is alive and still an Airflow-starting process (a stale file's pid may have been reused)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        return b"airflow" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the liveness check


def run_foreground(cfg: LocalAirflowConfig, *, timeout: float = 180, out: TextIO = sys.stdout) -> int:
    """``auralink airflow up``: start, print where things are, run until Ctrl-C/SIGTERM, stop cleanly.

    Returns 0 after a requested stop, 1 when a component died on its own.
    """
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    airflow = LocalAirflow(cfg)
    try:
        print(f"Starting Airflow in {cfg.home} (parallelism {cfg.parallelism}; logs in {cfg.log_dir})...",
              file=out, flush=True)
        started = time.monotonic()
        airflow.start(timeout=timeout, stop_event=stop_requested)
        print(f"Airflow is up after {time.monotonic() - started:.0f} s: {cfg.base_url}\n"
              f"  user {ADMIN_USER}, password in {cfg.password_file} (or run `auralink airflow password`)\n"
              f"  DAGs from {cfg.dags_folder}; component logs in {cfg.log_dir}\n"
              "  Ctrl-C stops every component.", file=out, flush=True)
        while not stop_requested.wait(2):
            airflow.check_alive()
        print("Stopping Airflow...", file=out, flush=True)
        return 0
    except LocalAirflowError as exc:
        if stop_requested.is_set():
            return 0
        print(f"auralink: error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        airflow.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def running(cfg: LocalAirflowConfig, *, base_env: Mapping[str, str] | None = None,
            timeout: float = 180) -> Iterator[LocalAirflow]:
    """A started local Airflow for the duration of a ``with`` block (the end-to-end test's entry point)."""
    airflow = LocalAirflow(cfg, base_env=base_env)
    airflow.start(timeout=timeout)
    try:
        yield airflow
    finally:
        airflow.stop()
