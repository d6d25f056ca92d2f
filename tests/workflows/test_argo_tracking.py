"""Run tracking: `auralink argo record` upserts argo_workflows on the workflow uid (real Postgres)."""

from __future__ import annotations

import json
import threading

import pytest
from auralink.cli import main

START = ["argo", "record", "--name", "ai-batch-processing-x7k2p", "--uid", "0b6a3c1e-uid-1",
         "--namespace", "data", "--template", "ai-batch-processing", "--status", "Running",
         "--started-at", "2026-11-27T02:00:05Z",
         "--parameters", json.dumps([{"name": "batch-size", "value": "50"}, {"name": "max-batches", "value": "20"}])]


def rows(db):
    return db.execute("SELECT name, uid, namespace, template, status, parameters, started_at, finished_at, error"
                      " FROM argo_workflows ORDER BY id").fetchall()


def test_start_then_exit_handler_make_one_row(db, capsys):
    assert main(START) == 0
    [row] = rows(db)
    assert row[:5] == ("ai-batch-processing-x7k2p", "0b6a3c1e-uid-1", "data", "ai-batch-processing", "Running")
    assert row[5] == {"batch-size": "50", "max-batches": "20"}
    assert row[6].isoformat() == "2026-11-27T02:00:05+00:00" and row[7] is None and row[8] is None

    failures = json.dumps([{"displayName": "transcribe-batch(1:batch:1)", "templateName": "transcribe-batch",
                            "phase": "Failed", "message": "Error (exit code 1)", "podName": "p",
                            "finishedAt": "2026-11-27T02:10:00Z"}])
    exit_args = [a if a != "Running" else "Failed" for a in START] + ["--failures", failures]
    assert main(exit_args) == 0
    [row] = rows(db)
    assert row[4] == "Failed" and row[7] is not None and row[7] >= row[6]
    assert row[8] == "transcribe-batch(1:batch:1) (transcribe-batch) Failed: Error (exit code 1)"
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["status"] == "Failed" and printed["uid"] == "0b6a3c1e-uid-1"


def test_succeeded_exit_records_no_error_and_a_late_running_does_not_reopen_it(db):
    ok = [a if a != "Running" else "Succeeded" for a in START] + ["--failures", "null"]
    assert main(ok) == 0
    assert main(START) == 0  # a retried first step that lands after the exit handler
    [row] = rows(db)
    assert row[4] == "Succeeded" and row[7] is not None and row[8] is None


def test_earliest_start_wins_and_other_uids_are_other_rows(db):
    assert main(START) == 0
    later = list(START)
    later[later.index("--started-at") + 1] = "2026-11-27T03:00:00Z"
    assert main(later) == 0
    other = list(START)
    other[other.index("--uid") + 1] = "uid-2"
    assert main(other) == 0
    got = rows(db)
    assert [r[1] for r in got] == ["0b6a3c1e-uid-1", "uid-2"]
    assert got[0][6].isoformat() == "2026-11-27T02:00:05+00:00"


def test_concurrent_records_of_one_workflow_keep_one_row(db_url, db):
    from auralink.argo.tracking import WorkflowRun, record_run

    errors = []

    def record(status):
        try:
            record_run(WorkflowRun(name="w", uid="same-uid", template="nightly", status=status), url=db_url)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(s,)) for s in ["Running"] * 6 + ["Succeeded"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [(status, n)] = db.execute("SELECT status, count(*) FROM argo_workflows GROUP BY status").fetchall()
    assert n == 1 and status == "Succeeded"


@pytest.mark.parametrize("change, message", [
    (("--status", "Done"), "status must be one of"),
    (("--uid", "{{workflow.uid}}"), "unresolved Argo variable"),
    (("--started-at", "yesterday"), "not an RFC 3339 timestamp"),
    (("--parameters", "{not json"), "not JSON"),
])
def test_bad_input_is_one_clear_error_and_records_nothing(db, capsys, change, message):
    args = list(START)
    args[args.index(change[0]) + 1] = change[1]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert rows(db) == []


def test_parameters_in_every_shape_argo_may_send():
    from auralink.argo.tracking import parse_parameters

    assert parse_parameters('[{"name": "a", "value": "1"}, {"name": "b", "value": ""}]') == {"a": "1", "b": ""}
    assert parse_parameters("null") == {} and parse_parameters("") == {} and parse_parameters(None) == {}
    assert parse_parameters("{{workflow.parameters.json}}") == {}
    with pytest.raises(ValueError, match="list of"):
        parse_parameters('[1, 2]')


def test_failures_summary_handles_what_argo_sends():
    from auralink.argo.tracking import summarize_failures

    assert summarize_failures("null") is None and summarize_failures("[]") is None
    assert summarize_failures("") is None and summarize_failures(None) is None
    assert summarize_failures("pod deleted") == "pod deleted"
    long = json.dumps([{"displayName": f"n{i}", "message": "x" * 100} for i in range(100)])
    assert len(summarize_failures(long)) == 4000


def test_runs_lists_the_latest(db, capsys):
    assert main(START) == 0
    capsys.readouterr()
    assert main(["argo", "runs", "--template", "ai-batch-processing"]) == 0
    out = capsys.readouterr().out
    assert "Running" in out and "ai-batch-processing-x7k2p" in out
