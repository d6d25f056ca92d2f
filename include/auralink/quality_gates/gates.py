"""Run the quality gates with Great Expectations 1.x (ephemeral context, one Postgres data source,
a query asset per gate, one checkpoint) and keep the outcome in ``data_quality_results``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from auralink.db.connection import connect, sqlalchemy_url
from auralink.quality_gates.suites import GATES, Gate

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    table: str
    expectation: str
    column: str | None
    blocking: bool
    success: bool
    observed: dict


def _window_query(gate: Gate, window_days: int) -> str:
    # Anchored at the table's newest row: a quiet day or a late backfill still validates real rows.
    return (f"SELECT {gate.columns} FROM {gate.table} WHERE {gate.time_column} >= "
            f"(SELECT max({gate.time_column}) FROM {gate.table}) - interval '{int(window_days)} days'")


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


def run_gates(url: str, window_days: int = 2) -> list[CheckResult]:
    import great_expectations as gx  # ~5 s import: only when the gate runs, never at DAG parse time
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_postgres("auralink", connection_string=ge_connection_string(url))
    definitions = []
    for gate in GATES:
        asset = source.add_query_asset(name=gate.table, query=_window_query(gate, window_days))
        suite = context.suites.add(gx.ExpectationSuite(name=f"{gate.table}_gate"))
        for check in gate.checks:
            expectation = getattr(gxe, check.expectation)(**check.kwargs, meta={"blocking": check.blocking})
            suite.add_expectation(expectation)
        definitions.append(context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{gate.table}_window", data=asset.add_batch_definition_whole_table("window"), suite=suite)))
    checkpoint = context.checkpoints.add(gx.Checkpoint(name="nightly_sources", validation_definitions=definitions))
    run = checkpoint.run()

    results = []
    for validation in run.run_results.values():
        table = validation.suite_name.removesuffix("_gate")
        for r in validation.results:
            cfg = r.expectation_config
            if cfg is None:
                continue
            results.append(CheckResult(
                table=table, expectation=cfg.type, column=cfg.kwargs.get("column") or cfg.kwargs.get("column_A"),
                blocking=bool((cfg.meta or {}).get("blocking", True)), success=bool(r.success),
                observed={k: v for k, v in (r.result or {}).items()
                          if k in ("observed_value", "unexpected_count", "unexpected_percent", "element_count",
                                   "partial_unexpected_list")}))
    return results


def record_results(url: str, job_run_id: int | None, results: list[CheckResult]) -> None:
    with connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO data_quality_results (job_run_id, table_name, expectation, column_name, blocking,
                                                     success, observed)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                [(job_run_id, r.table, r.expectation, r.column, r.blocking, r.success, Jsonb(r.observed, dumps=_dumps))
                 for r in results])
        conn.commit()


def _dumps(obj) -> str:
    import json

    return json.dumps(obj, default=str)
