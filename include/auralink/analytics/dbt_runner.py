"""Run the dbt project in-process (dbtRunner) against the database ``auralink.db`` resolves.

dbt's profile (dbt_project/profiles.yml) reads only DBT_* environment variables; :func:`dbt_env` fills
them from :func:`auralink.db.connection.libpq_params` of the job's database URL, so no secret lands in a
file or a log. In Airflow, the Cosmos task group gets the same database through a profile mapping on the
``auralink_db`` connection instead (auralink.orchestration.connections).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auralink import config
from auralink.db.connection import libpq_params
from auralink.jobs.interval import DataInterval, latest_night

log = logging.getLogger(__name__)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What the product reads, built by the dbt marts into schema `analytics`.
ANALYTICS_SCHEMA = "analytics"
ANALYTICS_VIEWS = ("organization_analytics_summary", "daily_usage_summary", "fct_call_quality",
                   "fct_call_participant_quality", "fct_ai_usage_daily", "monthly_costs")
# Tests that read whole months of raw usage (CI checks them; the nightly run skips them).
NIGHTLY_EXCLUDE = "tag:parity"


class DbtFailed(RuntimeError):
    """dbt ran and reported failures; the message names the failed nodes."""


def project_dir() -> Path:
    configured = config.env("AURALINK_DBT_PROJECT_DIR")
    return Path(configured) if configured else config.project_root() / "dbt_project"


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def dbt_env(url: str | None = None) -> dict[str, str]:
    """DBT_HOST/DBT_PORT/DBT_USER/DBT_PASSWORD/DBT_DBNAME for profiles.yml."""
    params = libpq_params(url)
    return {"DBT_HOST": params["host"], "DBT_PORT": params["port"], "DBT_USER": params["user"],
            "DBT_PASSWORD": params["password"], "DBT_DBNAME": params["dbname"],
            # JIT compilation cost more than dbt's small nightly queries and tests (models also set it).
            "PGOPTIONS": "-c jit=off"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
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


@contextlib.contextmanager
def _project_lock() -> Iterator[None]:
    """One dbt invocation per project directory at a time: dbt rewrites target/ (manifest, partial parse
    state) on every run, and two runs interleaving there corrupt each other's state."""
    lock_file = config.data_dir("dbt") / "project.lock"
    with open(lock_file, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class DbtRun:
    command: str
    success: bool
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        return {"command": self.command, "success": self.success, "seconds": round(self.seconds, 3),
                "statuses": self.statuses, "failures": self.failures}


def run_dbt(args: Sequence[str], *, url: str | None = None, dbt_vars: dict[str, Any] | None = None,
            raise_on_failure: bool = True) -> DbtRun:
    """Invoke ``dbt <args>`` on the project, e.g. ``run_dbt(["build", "--exclude", "tag:parity"])``."""
    import json

    from dbt.cli.main import dbtRunner

    directory = project_dir()
    cli = [*args, "--project-dir", str(directory), "--profiles-dir", str(directory)]
    if dbt_vars:
        cli += ["--vars", json.dumps(dbt_vars)]
    env = {**dbt_env(url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    started = time.monotonic()
    with _project_lock(), _environment(env):
        result = dbtRunner().invoke(cli)
    seconds = time.monotonic() - started
    run = DbtRun(command=" ".join(args), success=bool(result.success), seconds=seconds)
    for node_result in getattr(result.result, "results", None) or []:
        status = str(getattr(node_result.status, "value", node_result.status))
        node = node_result.node
        run.statuses[status] = run.statuses.get(status, 0) + 1
        run.nodes.append({"unique_id": node.unique_id, "status": status,
                          "seconds": round(node_result.execution_time or 0.0, 3),
                          "failures": getattr(node_result, "failures", None)})
        if status in ("error", "fail", "runtime error"):
            run.failures.append({"unique_id": node.unique_id, "status": status,
                                 "message": _ANSI.sub("", node_result.message or "").strip()[:1000]})
    if not run.success and not run.failures and result.exception is not None:
        run.failures.append({"unique_id": "dbt", "status": "error", "message": str(result.exception)[:500]})
    log.info("dbt %s: %s in %.1fs %s", run.command, "ok" if run.success else "FAILED", seconds, run.statuses)
    if raise_on_failure and not run.success:
        names = ", ".join(f"{f['unique_id']} ({f['status']}: {f['message'][:120]})" for f in run.failures[:10])
        raise DbtFailed(f"dbt {run.command} failed: {names or 'see the dbt log'}")
    return run


def interval_vars(interval: DataInterval) -> dict[str, str]:
    """The night for dbt: ``--vars`` read by macros/interval.sql (``interval_start``, ``interval_end``)."""
    return {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()}


def build(*, url: str | None = None, interval: DataInterval | None = None, select: str | None = None,
          exclude: str | None = NIGHTLY_EXCLUDE, full_refresh: bool = False, raise_on_failure: bool = True) -> DbtRun:
    """``dbt build`` for the night (default: the current one): seeds, models, snapshots and tests in DAG
    order (a failed test skips its dependents)."""
    args = ["build"]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, url=url, dbt_vars=interval_vars(interval or latest_night()),
                   raise_on_failure=raise_on_failure)


def _sources_newer_than(path: Path) -> bool:
    built = path.stat().st_mtime
    directory = project_dir()
    for sub in ("models", "macros", "seeds", "tests", "snapshots"):
        for file in (directory / sub).rglob("*"):
            if file.is_file() and file.stat().st_mtime > built:
                return True
    return any(f.stat().st_mtime > built for f in (directory / "dbt_project.yml", directory / "profiles.yml"))


def docs_dir() -> Path:
    """Where the dbt docs site lives (``AURALINK_DBT_DOCS_DIR``, default ``AURALINK_HOME/dbt-docs``): index.html,
    manifest.json and catalog.json, what the Airflow UI serves (Cosmos's dbt docs plugin), and
    static_index.html, the same site in one file that a browser opens from disk."""
    configured = config.env("AURALINK_DBT_DOCS_DIR")
    path = Path(configured) if configured else config.data_dir("dbt-docs")
    path.mkdir(parents=True, exist_ok=True)
    return path


DOCS_FILES = ("index.html", "manifest.json", "catalog.json", "static_index.html")


def _placeholder_profile() -> dict[str, str]:
    """dbt parse reads the profile but never connects: placeholders are enough when DBT_* are unset."""
    return {k: os.environ.get(k, v) for k, v in
            {"DBT_HOST": "localhost", "DBT_DBNAME": "postgres", "DBT_USER": "postgres"}.items()}


def generate_docs(*, url: str | None = None, interval: DataInterval | None = None,
                  empty_catalog: bool = False) -> dict[str, Any]:
    """``dbt docs generate`` into :func:`docs_dir`.

    After a night's build the catalog is the database's own (columns, types, row counts of what was
    built). ``empty_catalog`` needs no database at all (the image build, CI): the project is parsed and the
    site has the models, descriptions and lineage graph, without the catalog's column types. The files are
    written beside the site and moved in one by one (``os.replace``), so a reader never sees half a file.
    """
    import json
    import shutil
    import tempfile

    from dbt.cli.main import dbtRunner

    target = docs_dir()
    staging = Path(tempfile.mkdtemp(prefix=".generating-", dir=target))
    directory = project_dir()
    common = ["--project-dir", str(directory), "--profiles-dir", str(directory), "--target-path", str(staging)]
    started = time.monotonic()
    try:
        if empty_catalog:
            with _project_lock(), _environment({**_placeholder_profile(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
                for args in (["parse", "--quiet"], ["docs", "generate", "--no-compile", "--empty-catalog", "--static"]):
                    result = dbtRunner().invoke([*args, *common])
                    if not result.success:
                        raise DbtFailed(f"dbt {' '.join(args)} failed: {result.exception}")
        else:
            run_dbt(["docs", "generate", "--static", "--target-path", str(staging)], url=url,
                    dbt_vars=interval_vars(interval or latest_night()))
        for name in DOCS_FILES:
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    return {"docs": str(target / "index.html"), "empty_catalog": empty_catalog,
            "models": sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "model"),
            "catalog_relations": len(catalog.get("nodes", {})) + len(catalog.get("sources", {})),
            "dbt_seconds": round(time.monotonic() - started, 3)}


def ensure_manifest(*, force: bool = False) -> Path:
    """target/manifest.json, from ``dbt parse`` when missing or older than a project file.

    The image build (and CI) run ``auralink analytics manifest`` once, so the DAG processor only stats
    the files; a developer who edits a model gets a fresh manifest on the next parse.
    """
    path = manifest_path()
    if force or not path.exists() or _sources_newer_than(path):
        from dbt.cli.main import dbtRunner

        directory = project_dir()
        with _project_lock(), _environment({**_placeholder_profile(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
            if force or not path.exists() or _sources_newer_than(path):
                result = dbtRunner().invoke(["parse", "--project-dir", str(directory),
                                             "--profiles-dir", str(directory), "--quiet"])
                if not result.success:
                    raise DbtFailed(f"dbt parse failed: {result.exception}")
    return path
