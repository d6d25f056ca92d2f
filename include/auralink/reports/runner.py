"""Generate the custom reports that are due: once per schedule tick, in the organization's time zone.

A report is due when the latest tick of its cron (evaluated in the organization's time zone) has no row
in ``report_runs``. The row is the claim: ``INSERT ... ON CONFLICT (report_id, scheduled_for) DO NOTHING``
lets exactly one runner through, so a DAG that runs twice, or two workers at once, generate a tick once.
A run stuck in 'running' past ``STALE_AFTER`` (a crashed worker) may be claimed again. Missed ticks are
not back-filled: the latest tick is the one generated (Airflow's catchup=False).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from auralink import config
from auralink.reports.definition import (
    MAX_DEFINITION_BYTES,
    ReportDefinitionError,
    parse_definition_text,
    validate,
    validate_formats,
)

log = logging.getLogger(__name__)
STALE_AFTER = dt.timedelta(hours=1)


class ScheduleError(ValueError):
    pass


def ticks(cron: str, timezone: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(latest tick at or before ``now``, next tick after ``now``), as UTC datetimes."""
    from croniter import croniter  # type: ignore[import-untyped]

    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {timezone!r}") from None
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ScheduleError(f"schedule_cron {cron!r} is not a valid cron expression (e.g. '0 6 * * 1')")
    local = now.astimezone(tz)
    # croniter steps back from a second after now so a tick exactly at now counts as due.
    prev = croniter(cron, local + dt.timedelta(seconds=1)).get_prev(dt.datetime)
    nxt = croniter(cron, local).get_next(dt.datetime)
    return prev.astimezone(dt.UTC), nxt.astimezone(dt.UTC)


def reports_base_url() -> str:
    """Where report files go: AURALINK_REPORTS_URL (any fsspec URL), else data_dir('reports')."""
    return (config.env("AURALINK_REPORTS_URL") or str(config.data_dir("reports"))).rstrip("/")


def store(url: str, payload: bytes) -> str:
    """Write ``payload`` at ``url`` (temp name then move, so readers never see half a file)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}.partial"
    with fs.open(tmp, "wb") as fh:
        fh.write(payload)
    fs.mv(tmp, path)
    return url if "://" in url else f"file://{path}"


@dataclass
class ReportOutcome:
    report_id: uuid.UUID
    status: str            # succeeded | failed | not_due | claimed_elsewhere
    scheduled_for: dt.datetime | None = None
    outputs: dict[str, str] | None = None
    error: str | None = None
    rows: int | None = None


def parse_report_id(text: Any) -> uuid.UUID:
    """A report id as a uuid; a ValueError saying so otherwise (checked before any query uses it)."""
    try:
        return text if isinstance(text, uuid.UUID) else uuid.UUID(str(text))
    except ValueError:
        raise ValueError(f"report id {text!r} is not a uuid") from None


def load_definition(conn: psycopg.Connection, report_id: uuid.UUID) -> Any:
    """A report's stored definition, parsed within the definition limits.

    PostgreSQL measures the size first, so an oversized row never crosses the wire; the depth is checked
    on the text before Python parses it (json.loads would recurse once per level). Raises
    ReportDefinitionError for a row that breaks the limits.
    """
    row = conn.execute(
        """SELECT octet_length(definition::text),
                  CASE WHEN octet_length(definition::text) <= %s THEN definition::text END
           FROM custom_reports WHERE id = %s""", (MAX_DEFINITION_BYTES, report_id)).fetchone()
    if row is None:
        raise ReportDefinitionError("the report was deleted while the run was under way")
    size, text = row
    if text is None:
        raise ReportDefinitionError(f"definition is {size:,} bytes of JSON; at most {MAX_DEFINITION_BYTES:,} "
                                    "are allowed")
    return parse_definition_text(text)


def generate_report(conn: psycopg.Connection, report: dict[str, Any], scheduled_for: dt.datetime,
                    base_url: str | None = None) -> tuple[dict[str, str], int]:
    """Render one report for one tick in each of its formats and store the files; returns (outputs, rows)."""
    from auralink.reports.query import run_report
    from auralink.reports.render import render_csv, render_json, render_pdf

    defn = validate(report["definition"])
    formats = validate_formats(report["formats"])
    data = run_report(conn, defn, report["organization_id"], report["timezone"], scheduled_for)
    meta = {"report": report["name"], "report_id": str(report["id"]), "title": defn.title or report["name"],
            "organization": report.get("organization_name") or str(report["organization_id"]),
            "organization_id": str(report["organization_id"]), "scheduled_for": scheduled_for.isoformat(),
            "definition": report["definition"]}
    base = (base_url or reports_base_url()).rstrip("/")
    stem = f"{base}/{report['organization_id']}/{report['id']}/{scheduled_for:%Y%m%dT%H%M%SZ}"
    outputs = {}
    for fmt in formats:
        payload = (render_csv(data) if fmt == "csv" else render_json(data, meta) if fmt == "json"
                   else render_pdf(data, meta, defn.chart, defn.chart_title))
        outputs[fmt] = store(f"{stem}.{fmt}", payload)
    return outputs, len(data.rows)


def _claim(conn: psycopg.Connection, report_id: uuid.UUID, tick: dt.datetime, now: dt.datetime) -> int | None:
    row = conn.execute(
        """INSERT INTO report_runs (report_id, scheduled_for, started_at) VALUES (%s, %s, %s)
           ON CONFLICT (report_id, scheduled_for) DO NOTHING RETURNING id""", (report_id, tick, now)).fetchone()
    if row:
        return row[0]
    row = conn.execute(
        """UPDATE report_runs SET started_at = %s, error = 'reclaimed after a stale run'
           WHERE report_id = %s AND scheduled_for = %s AND status = 'running' AND started_at < %s
           RETURNING id""", (now, report_id, tick, now - STALE_AFTER)).fetchone()
    return row[0] if row else None


def _finish(conn: psycopg.Connection, run_id: int | None, report_id: uuid.UUID, status: str, now: dt.datetime,
            next_run: dt.datetime | None, outputs: dict[str, str] | None = None, rows: int | None = None,
            error: str | None = None) -> None:
    with conn.transaction():
        if run_id is not None:
            conn.execute("""UPDATE report_runs SET status = %s, finished_at = %s, outputs = %s, row_count = %s,
                                                   error = %s WHERE id = %s""",
                         (status, now, Jsonb(outputs or {}), rows, error, run_id))
        conn.execute("""UPDATE custom_reports SET last_run_at = %s, next_run_at = %s, last_status = %s,
                                                  last_error = %s, updated_at = now() WHERE id = %s""",
                     (now, next_run, status, error, report_id))


def run_due_reports(conn: psycopg.Connection, now: dt.datetime | None = None, *, report_id: str | None = None,
                    on_outcome: Callable[[ReportOutcome], None] | None = None,
                    base_url: str | None = None, workers: int = 1, url: str | None = None) -> list[ReportOutcome]:
    """Generate every enabled, scheduled report whose latest tick has not been generated.

    ``conn`` must be in autocommit mode (each claim and result commits at once). A report that fails
    (bad definition, bad cron, a rendering error) is recorded as failed; the others go on. With
    ``workers`` > 1 (and the database's ``url``), that many processes render the reports, each on its own
    connection: drawing charts and PDFs is CPU-bound, most of a report's time.
    """
    now = now or dt.datetime.now(dt.UTC)
    if report_id is not None:
        report_id = str(parse_report_id(report_id))
    # Everything but the definition: one stored definition that cannot be parsed must fail its own
    # report only, so each is loaded (and bounded) inside its report's turn, in _run_one.
    reports = conn.cursor(row_factory=dict_row).execute(
        """SELECT r.id, r.organization_id, r.name, r.schedule_cron, r.formats, o.timezone,
                  o.name AS organization_name
           FROM custom_reports r JOIN organizations o ON o.id = r.organization_id
           WHERE r.enabled AND r.schedule_cron IS NOT NULL AND o.deleted_at IS NULL
             AND (%(id)s::uuid IS NULL OR r.id = %(id)s::uuid)
           ORDER BY r.organization_id, r.name""", {"id": report_id}).fetchall()
    outcomes = []
    parallel = workers > 1 and len(reports) > 1 and "fork" in multiprocessing.get_all_start_methods()
    for outcome in (_in_workers(url, reports, now, base_url, workers) if parallel and url
                    else (_run_one(conn, rep, now, base_url) for rep in reports)):
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes


def _in_workers(url: str, reports: list[dict[str, Any]], now: dt.datetime, base_url: str | None,
                workers: int) -> Iterator[ReportOutcome]:
    """Each report's outcome, in order, from ``workers`` forked processes, each on its own connection.

    Forked, not spawned: a spawned child re-runs the parent's main script, and inside an Airflow task
    that is the ``airflow`` command, which cannot start there. A forked child inherits the parent's
    connections but never uses them, and ends with ``os._exit`` (no finalizer closes them)."""
    import gc
    from concurrent.futures import ProcessPoolExecutor

    from auralink.reports.render import preload

    # What the children need is loaded once, here, and shared; frozen, the parent's objects are left alone
    # by the children's garbage collector, whose writes would otherwise copy the pages that hold them.
    preload()
    gc.freeze()
    try:
        with ProcessPoolExecutor(min(workers, len(reports)), mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_start, initargs=(url,)) as pool:
            yield from pool.map(_worker_run, reports, [now] * len(reports), [base_url] * len(reports),
                                chunksize=4)
    finally:
        gc.unfreeze()


_worker_conn: psycopg.Connection | None = None


def _worker_start(url: str) -> None:
    global _worker_conn
    from auralink.db.connection import connect

    _worker_conn = connect(url, autocommit=True, application_name="auralink:generate_due_reports")


def _worker_run(rep: dict[str, Any], now: dt.datetime, base_url: str | None) -> ReportOutcome:
    assert _worker_conn is not None, "the pool's initializer opens the connection"
    return _run_one(_worker_conn, rep, now, base_url)


def _run_one(conn: psycopg.Connection, rep: dict[str, Any], now: dt.datetime, base_url: str | None) -> ReportOutcome:
    try:
        tick, next_run = ticks(rep["schedule_cron"], rep["timezone"], now)
    except ScheduleError as exc:
        _finish(conn, None, rep["id"], "failed", now, None, error=str(exc))
        return ReportOutcome(rep["id"], "failed", error=str(exc))
    run_id = _claim(conn, rep["id"], tick, now)
    if run_id is None:
        return ReportOutcome(rep["id"], "not_due", tick)
    try:
        rep = {**rep, "definition": load_definition(conn, rep["id"])}
        outputs, rows = generate_report(conn, rep, tick, base_url)
    except ReportDefinitionError as exc:
        error = f"invalid definition: {exc}"
    except Exception as exc:
        log.exception("report %s failed", rep["id"])
        error = f"{exc.__class__.__name__}: {exc}"
    else:
        _finish(conn, run_id, rep["id"], "succeeded", now, next_run, outputs, rows)
        return ReportOutcome(rep["id"], "succeeded", tick, outputs, rows=rows)
    _finish(conn, run_id, rep["id"], "failed", now, next_run, error=error[:4000])
    return ReportOutcome(rep["id"], "failed", tick, error=error)
