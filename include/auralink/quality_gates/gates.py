"""Run the quality gates with Great Expectations 1.x and keep the outcome: Data Docs on disk and rows in
``data_quality_results``.

The Data Context is built in code (suites.py is the source of truth): its data source and checkpoint live
in memory only, so the database URL (and its password) is never written to disk, while the expectation
suites, every run's validation results and the Data Docs site are kept under :func:`store.gx_dir`. Each run
has its own run name (validation results never overwrite each other) and writes under a file lock
(the site index is shared). Importing this module is cheap; Great Expectations (~5 s) is imported only
when a gate runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from auralink.config import settings_from_env
from auralink.db.connection import connect, sqlalchemy_url
from auralink.jobs import JobFailed
from auralink.quality_gates import store
from auralink.quality_gates.suites import PHASES, Check, Gate, describe, freshness_check

log = logging.getLogger(__name__)

DATA_SOURCE = "auralink"
SITE_NAME = "local_site"
# What of a result is worth a row in data_quality_results (GE's full result stays in the validation store).
_OBSERVED_KEYS = ("observed_value", "unexpected_count", "unexpected_percent", "element_count",
                  "partial_unexpected_list", "details")


class QualityGateFailed(JobFailed):
    """A blocking expectation failed: the data is wrong, so retrying the task cannot help."""

    retryable = False


@dataclass(frozen=True)
class GateSettings:
    """Defaults of the gate jobs, each overridable by ``AURALINK_QUALITY_<NAME>`` (and by job parameters)."""

    window_days: int = 2          # how many days before the night's end each gate validates
    max_age_hours: float = 36.0   # freshness: the newest source row may be this much older than the night's end
    keep_days: float = 30.0       # validation results and their Data Docs pages kept this long (0: forever)


def gate_settings(**overrides: Any) -> GateSettings:
    return settings_from_env(GateSettings, "AURALINK_QUALITY_", **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class CheckResult:
    table: str
    expectation: str
    column: str | None
    blocking: bool
    success: bool
    observed: dict
    description: str | None = None
    phase: str = "source"


@dataclass
class GateRun:
    phase: str
    run_name: str
    results: list[CheckResult]
    data_docs: Path               # index.html of the Data Docs site

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.failed if r.blocking]


def fill(sql: str, *, days: int, end: dt.datetime) -> str:
    """A window's placeholders: ``{days}``, ``{end}`` (timestamptz literal), ``{end_date}`` (date literal)."""
    end = end.astimezone(dt.UTC)
    return (sql.replace("{days}", str(days))
               .replace("{end_date}", f"date '{end.date().isoformat()}'")
               .replace("{end}", f"timestamptz '{end.isoformat()}'"))


def window_query(gate: Gate, window_days: int, end: dt.datetime) -> str:
    """The gate's rows of the ``days`` before the night's end: a run for a past night checks that night."""
    days = int(gate.window_days or window_days)
    if gate.window:
        return fill(gate.window, days=days, end=end)
    bound = "{end_date}" if gate.time_is_date else "{end}"
    lower = f"{bound} - {days}" if gate.time_is_date else f"{bound} - interval '{days} days'"
    return fill(f"SELECT {gate.columns} FROM {gate.table} WHERE {gate.time_column} >= {lower} "
                f"AND {gate.time_column} < {bound}", days=days, end=end)


def checks_for(gate: Gate, *, as_of: dt.datetime | None, max_age_hours: float) -> list[Check]:
    checks = list(gate.checks)
    if gate.freshness is not None and as_of is not None:
        checks.append(freshness_check(gate, as_of, max_age_hours))
    return checks


def ge_connection_string(url: str) -> str:
    """SQLAlchemy URL that Great Expectations' PostgresDsn validator accepts.

    GE insists on a host in the URL; a Unix-socket URL (the embedded database:
    ``postgresql://postgres:@/auralink?host=/dir``) gets ``localhost`` there, and the ``host`` query
    parameter, which SQLAlchemy passes to the driver last, still selects the socket.
    """
    sa_url = sqlalchemy_url(url)
    scheme, _, rest = sa_url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if hostpart.startswith("/"):
        rest = f"{userinfo}{at}localhost{hostpart}"
    return f"{scheme}://{rest}"


def _context(root: Path):
    """A Data Context whose suites, results and Data Docs are files under ``root``; nothing else is kept."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    def files(sub: str) -> dict[str, str]:
        return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root / sub)}

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        stores={
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": files("expectations")},
            "validation_results_store": {"class_name": "ValidationResultsStore", "store_backend": files("validations")},
            # Data sources, validation definitions and checkpoints are rebuilt from code each run.
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={SITE_NAME: {
            "class_name": "SiteBuilder", "show_how_to_buttons": False, "store_backend": files("data_docs"),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # no tqdm bars in task logs
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_gates(url: str, phase: str = "source", *, end: dt.datetime, window_days: int = 2,
              freshness: bool = True, max_age_hours: float = 36.0, run_name: str | None = None,
              root: Path | None = None, keep_days: float = 30.0) -> GateRun:
    """Validate every gate of ``phase`` ("source" or "analytics") on the window before ``end`` (the
    night's interval end) in one checkpoint; build Data Docs. Freshness is measured against ``end``.
    """
    import great_expectations as gx  # ~5 s import: only when a gate runs, never at DAG parse time
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    try:
        gates = PHASES[phase]
    except KeyError:
        raise ValueError(f"unknown quality-gate phase {phase!r}; known: {', '.join(PHASES)}") from None
    # Its INFO lines are internals ("_get_default_value called with key ..."): keep task logs readable.
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)
    root = root or store.gx_dir()
    run_name = run_name or f"{phase}-{uuid.uuid4().hex[:12]}"
    with store.exclusive(root):
        store.prune(root, keep_days)
        context = _context(root)
        source = context.data_sources.add_postgres(DATA_SOURCE, connection_string=ge_connection_string(url))
        definitions = []
        for gate in gates:
            days = int(gate.window_days or window_days)
            expectations = []
            for check in checks_for(gate, as_of=end if freshness else None, max_age_hours=max_age_hours):
                kwargs = dict(check.kwargs)
                if "unexpected_rows_query" in kwargs:
                    kwargs["unexpected_rows_query"] = fill(kwargs["unexpected_rows_query"], days=days, end=end)
                expectations.append(getattr(gxe, check.expectation)(
                    **kwargs, description=describe(gate, check), severity="critical" if check.blocking else "warning",
                    meta={"blocking": check.blocking, "table": gate.table, "column": check.column}))
            suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{phase}.{gate.name}", expectations=expectations))
            asset = source.add_query_asset(name=gate.name, query=window_query(gate, window_days, end))
            definitions.append(context.validation_definitions.add(gx.ValidationDefinition(
                name=f"{phase}.{gate.name}", data=asset.add_batch_definition_whole_table("window"), suite=suite)))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"auralink_{phase}", validation_definitions=definitions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10}))
        run = checkpoint.run(run_id=RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC)))
        # The checkpoint stored each gate's result; render this run's pages and the index once (an
        # UpdateDataDocsAction would rebuild the index after every gate).
        context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[
            *run.run_results.keys(), *(ExpectationSuiteIdentifier(name=d.suite.name) for d in definitions)])

    results = []
    for validation in run.run_results.values():
        for r in validation.results:
            cfg = r.expectation_config
            if cfg is None:
                continue
            meta = cfg.meta or {}
            observed = {k: v for k, v in (r.result or {}).items() if k in _OBSERVED_KEYS}
            if (r.exception_info or {}).get("raised_exception"):  # a broken query is a failure, with its reason
                observed["exception"] = str(r.exception_info.get("exception_message"))[:2000]
            results.append(CheckResult(
                table=str(meta.get("table") or validation.suite_name), expectation=cfg.type,
                column=meta.get("column") or cfg.kwargs.get("column") or cfg.kwargs.get("column_A"),
                blocking=bool(meta.get("blocking", True)), success=bool(r.success), observed=observed,
                description=cfg.description, phase=phase))
    return GateRun(phase=phase, run_name=run_name, results=results, data_docs=store.data_docs_index(root))


def record_results(url: str, job_run_id: int | None, results: list[CheckResult], *, run_name: str | None = None) -> None:
    with connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO data_quality_results (job_run_id, table_name, expectation, column_name, blocking,
                                                     success, observed, phase, description, ge_run_name)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(job_run_id, r.table, r.expectation, r.column, r.blocking, r.success, Jsonb(r.observed, dumps=_dumps),
                  r.phase, r.description, run_name) for r in results])
        conn.commit()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
