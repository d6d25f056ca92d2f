"""Bad input to custom reports: definitions past the size/depth/length/content limits, in files, in
stored rows (each fails its own report; the other reports run) and at the database's door."""

from __future__ import annotations

import datetime as dt
import inspect
import json

import psycopg
import pytest
from auralink.reports.definition import ReportDefinitionError, validate

EXAMPLE = {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
           "filters": [{"column": "call_type", "op": "=", "value": "video"}], "date_range": {"last_days": 30},
           "chart": {"type": "line"}}
# Wednesday 2026-11-11 12:00 UTC = 07:00 in New York: the daily 06:00 tick (11:00 UTC) is due.
NOW = dt.datetime(2026, 11, 11, 12, 0, tzinfo=dt.UTC)


def run_reports_job(**params):
    """generate_due_reports as of NOW, through the registry (so job_run_items are written)."""
    from auralink.jobs import run_job

    if "now" in inspect.signature(run_job).parameters:   # the registry takes "now" for the night
        return run_job("generate_due_reports", params, now=NOW)
    return run_job("generate_due_reports", {**params, "now": NOW.isoformat()})


# --- the document's own limits: size, depth, lengths, content ------------------------------------------------

def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("text, message", [
    ('{"metrics": ' + nested(10_000) + "}", "definition is nested 10,001 levels deep; at most 8"),
    ('{"metrics": ' + nested(100_000) + "}", "definition is 200,013 bytes of JSON; at most 65,536"),
    (json.dumps({**EXAMPLE, "title": "x" * 70_000}), "definition is 70,"),
    (json.dumps({**EXAMPLE, "filters": [{"column": "region", "op": "=", "value": "us\x00east"}]}),
     "filters[0].value: holds a NUL character"),
    (json.dumps({**EXAMPLE, "filters": [{"column": "region", "op": "in", "value": ["r"] * 101}]}),
     "filters[0].value: has 101 entries; at most 100"),
    (json.dumps({**EXAMPLE, "filters": [{"column": "region", "op": "=", "value": "r" * 201}]}),
     "filters[0].value: is a string that has 201 characters"),
    ('{"metrics": [{"column": "calls", "agg": "count"}], "title": "\\ud800"}', "title: is not valid Unicode"),
    ('{"metrics": [{"column": "calls", "agg": NaN}]}', "NaN is not a JSON value"),
    ('{"limit": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"metrics": [{"column": "calls", "agg": "count"}], "filters": [{"column": "region", "op": "=", "value": '
     + "9" * 4000 + "}]}", "filters[0].value: is an integer of 13,288 bits"),
    (b"\xff\xfe{}", "is not UTF-8"),
])
def test_definition_limits_are_checked_before_anything_else(text, message):
    with pytest.raises(ReportDefinitionError) as caught:
        validate(text)
    assert message in str(caught.value)


def test_limits_apply_to_python_objects_too():
    deep: list = []
    for _ in range(5_000):            # built without recursion, checked without recursion
        deep = [deep]
    with pytest.raises(ReportDefinitionError, match=r"metrics\[0\]\[0\].*: is nested more than 8 levels deep"):
        validate({"metrics": deep})
    with pytest.raises(ReportDefinitionError, match="holds a NUL"):
        validate({**EXAMPLE, "title": "a\x00b"})
    with pytest.raises(ReportDefinitionError, match="not a JSON value"):
        validate({**EXAMPLE, "title": object()})
    with pytest.raises(ReportDefinitionError, match="is not an allowed column"):   # an unhashable column
        validate({"metrics": [{"column": ["calls"], "agg": "sum"}]})
    with pytest.raises(ReportDefinitionError, match="at most 64-bit integers"):   # repr() of it raised ValueError
        validate({**EXAMPLE, "filters": [{"column": "region", "op": "=", "value": 10**5000}]})


def test_cli_validate_refuses_huge_deep_and_nul_files_in_one_line(tmp_path, capsys):
    from auralink.cli import main

    cases = {"deep.json": '{"metrics": ' + nested(100_000) + "}",
             "deep10k.json": '{"metrics": ' + nested(10_000) + "}",
             "nul.json": json.dumps({**EXAMPLE, "filters": [{"column": "region", "op": "=", "value": "a\x00"}]}),
             "notutf8.json": "\udcff"}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        assert main(["reports", "validate", str(path)]) == 3, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("auralink: error: ") and "Traceback" not in err, err


# --- bad stored definitions: each fails its own report, the others run --------------------------------------

def _store_unchecked(db, reports, name: str, definition_text: str) -> object:
    """A row as the product (or a row older than migration 1150) may have stored it: past the write guard."""
    import uuid

    rid = uuid.uuid4()
    db.execute("ALTER TABLE custom_reports DISABLE TRIGGER custom_reports_definition_guard")
    try:
        db.execute("INSERT INTO custom_reports (id, organization_id, name, definition, schedule_cron, formats) "
                   "VALUES (%s, %s, %s, %s::jsonb, '0 6 * * *', '{csv}')", (rid, reports.org, name, definition_text))
    finally:
        db.execute("ALTER TABLE custom_reports ENABLE TRIGGER custom_reports_definition_guard")
    return rid


def test_a_deeply_nested_or_huge_stored_definition_fails_alone(reports, db, reports_dir):
    good = [reports.report(f"Good {i:02d}", EXAMPLE) for i in range(20)]
    deep = _store_unchecked(db, reports, "Deep", '{"metrics": ' + "[" * 10_000 + "]" * 10_000 + "}")
    huge = _store_unchecked(db, reports, "Huge", json.dumps({**EXAMPLE, "title": "x" * 100_000}))
    out = run_reports_job()
    assert out["status"] == "partial"
    assert out["reports"] == {"succeeded": 20, "failed": 2, "not_due": 0}
    status = dict(db.execute("SELECT id, last_status FROM custom_reports").fetchall())
    assert all(status[g] == "succeeded" for g in good) and status[deep] == status[huge] == "failed"
    reasons = dict(db.execute("SELECT item_id, reason FROM job_run_items WHERE job_run_id = %s AND outcome = 'failed'",
                              (out["run_id"],)).fetchall())
    assert "invalid definition: definition is nested 10,001 levels deep; at most 8" in reasons[str(deep)]
    assert "invalid definition: definition is 100,2" in reasons[str(huge)] and "at most 65,536" in reasons[str(huge)]
    assert "RecursionError" not in " ".join(reasons.values())
    assert db.execute("SELECT error FROM report_runs WHERE report_id = %s", (deep,)).fetchone()[0] == reasons[str(deep)]


def test_the_database_refuses_definitions_past_the_limits(reports, db):
    with pytest.raises(psycopg.errors.CheckViolation, match="nested more than 8 levels deep"):
        reports.report("Deep", {"metrics": json.loads("[" * 9 + "]" * 9)})
    with pytest.raises(psycopg.errors.CheckViolation, match="at most 65536"):
        reports.report("Huge", {**EXAMPLE, "title": "x" * 70_000})
    reports.report("Eight levels are fine", {"metrics": json.loads("[" * 6 + "{}" + "]" * 6)})
    # A row stored before the guard can still have its failure recorded (the guard watches the definition only).
    legacy = _store_unchecked(db, reports, "Legacy", '{"m": ' + "[" * 50 + "]" * 50 + "}")
    db.execute("UPDATE custom_reports SET last_status = 'failed' WHERE id = %s", (legacy,))


def test_the_database_guard_and_python_agree_on_the_limits(db):
    from auralink.reports.definition import MAX_DEFINITION_BYTES, MAX_DEFINITION_DEPTH

    body = db.execute("SELECT prosrc FROM pg_proc WHERE proname = 'custom_reports_definition_guard'").fetchone()[0]
    assert f"IF size > {MAX_DEFINITION_BYTES} THEN" in body
    assert f"$.**{{{MAX_DEFINITION_DEPTH}}} ?" in body and f"more than {MAX_DEFINITION_DEPTH} levels" in body


def test_run_with_a_report_id_that_is_no_uuid_or_unknown_is_one_line(db, capsys):
    import uuid

    from auralink.cli import main

    assert main(["reports", "run", "--report", "123"]) == 2
    err = capsys.readouterr().err
    assert err == "auralink: error: --report: report id '123' is not a uuid\n"
    missing = uuid.uuid4()
    assert main(["reports", "run", "--report", str(missing)]) == 3
    assert capsys.readouterr().err == f"auralink: error: no report {missing}\n"
    with pytest.raises(ValueError, match=r"(?i)uuid"):   # the job checks too (jobs run -p report_id=...)
        run_reports_job(report_id="123")
