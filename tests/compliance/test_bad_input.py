"""Bad input and faults around data-subject requests: one-line CLI errors, scopes that are not what they
seem, and configuration errors that fail the job without consuming the request."""

from __future__ import annotations

import uuid

import pytest
from auralink.cli import main
from auralink.compliance import requests
from auralink.jobs import JobFailed, run_job


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("auralink: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _row(db, rid):
    return db.execute("SELECT status, error, attempts FROM compliance_requests WHERE id = %s", (rid,)).fetchone()


@pytest.mark.parametrize("scope, message", [
    ("[1,2]", "scope must be a JSON object such as"),
    ('"all"', "scope must be a JSON object"),
    ("{not json", "scope is not valid JSON"),
    ('{"categories": ["a\\u0000"]}', "scope.categories[0]: holds a NUL character"),
    ("[" * 50_000 + "]" * 50_000, "scope is 100,000 bytes of JSON"),
    ("[" * 1_000 + "]" * 1_000, "scope is nested 1,000 levels deep"),
])
def test_submit_with_a_scope_that_is_not_an_object_is_a_usage_error(world, db, capsys, scope, message):
    argv = ["compliance", "submit", "--org", str(world.org), "--type", "deletion", "--email", world.alice_email,
            "--scope", scope]
    assert main(argv) == 2
    assert message in _one_line_error(capsys)
    assert db.execute("SELECT count(*) FROM compliance_requests").fetchone()[0] == 0


def test_submit_for_an_unknown_organization_or_user_is_a_bad_item(world, db, capsys):
    nobody = uuid.uuid4()
    assert main(["compliance", "submit", "--org", str(nobody), "--type", "export", "--email", world.alice_email]) == 3
    assert f"no organization {nobody}" in _one_line_error(capsys)
    assert main(["compliance", "submit", "--org", str(world.org), "--type", "export", "--user-id", str(nobody)]) == 3
    assert f"no user {nobody}" in _one_line_error(capsys)
    assert main(["compliance", "submit", "--org", str(world.org), "--type", "export", "--email", "a\x00@b.c"]) == 2
    assert "without NUL" in _one_line_error(capsys)
    assert main(["compliance", "export", "--request-id", str(nobody)]) == 3
    assert f"no compliance request {nobody}" in _one_line_error(capsys)
    assert db.execute("SELECT count(*) FROM compliance_requests").fetchone()[0] == 0


def test_erasure_scope_all_means_every_category_and_other_non_lists_are_refused(world, db):
    everything = requests.submit_request(db, organization_id=world.org, request_type="deletion",
                                         subject_user_id=world.alice, scope={"categories": "all"})
    one_word = requests.submit_request(db, organization_id=world.org, request_type="deletion",
                                       subject_user_id=world.bob, scope={"categories": "calls"})
    a_number = requests.submit_request(db, organization_id=world.other_org, request_type="deletion",
                                       subject_user_id=world.bob, scope={"categories": 7})
    result = run_job("process_compliance_requests")
    assert result["completed"] == 1 and result["rejected"] == 2, result
    assert _row(db, everything)[0] == "completed"
    status, error, _ = _row(db, one_word)
    assert status == "rejected"
    assert error.startswith('scope.categories must be "all" or a list of categories, not the string "calls"')
    assert "unknown erasure scope categories: a, l" not in error
    assert _row(db, a_number)[:2] == ("rejected", ('scope.categories must be "all" or a list of categories, not the '
                                                  f'number 7 (known: {", ".join(requests.erasure.DEFAULT_SCOPE)})'))
    assert db.execute("SELECT erased_at IS NOT NULL FROM users WHERE id = %s", (world.alice,)).fetchone() == (True,)
    assert db.execute("SELECT erased_at IS NULL FROM users WHERE id = %s", (world.bob,)).fetchone() == (True,)


@pytest.mark.parametrize("key", [None, "not base64!", "c2hvcnQ="])
def test_a_missing_or_bad_secret_key_fails_the_job_and_leaves_the_erasure_pending(world, db, monkeypatch, capsys, key):
    rid = requests.submit_request(db, organization_id=world.org, request_type="deletion", subject_user_id=world.alice)
    monkeypatch.delenv("AURALINK_SECRET_KEY_FILE", raising=False)
    if key is None:
        monkeypatch.delenv("AURALINK_SECRET_KEY")
    else:
        monkeypatch.setenv("AURALINK_SECRET_KEY", key)
    with pytest.raises(JobFailed, match=r"AURALINK_SECRET_KEY .*1 request\(s\) left pending, none consumed"):
        run_job("process_compliance_requests")
    assert _row(db, rid) == ("pending", None, 0)                         # retryable, attempt not counted
    assert db.execute("SELECT status FROM job_runs ORDER BY id DESC LIMIT 1").fetchone() == ("failed",)
    assert db.execute("SELECT erased_at FROM users WHERE id = %s", (world.alice,)).fetchone() == (None,)
    assert main(["compliance", "process"]) == 1                           # the CLI: one line, exit 1
    assert "left pending" in _one_line_error(capsys)
    assert _row(db, rid)[0] == "pending"

    monkeypatch.setenv("AURALINK_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    assert run_job("process_compliance_requests")["completed"] == 1      # fixed: the next run does it
    assert _row(db, rid)[0] == "completed"


def test_unusable_export_storage_fails_the_job_and_leaves_the_requests_pending(world, db, monkeypatch, tmp_path):
    first = requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.alice)
    second = requests.submit_request(db, organization_id=world.org, request_type="export", subject_user_id=world.bob)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for url in ("nosuchproto://bucket/exports", str(blocker / "exports")):
        monkeypatch.setenv("AURALINK_EXPORT_URL", url)
        with pytest.raises(JobFailed, match=r"2 request\(s\) left pending"):
            run_job("process_compliance_requests")
        assert _row(db, first)[0] == _row(db, second)[0] == "pending"
    monkeypatch.setenv("AURALINK_EXPORT_URL", str(tmp_path / "exports"))
    assert run_job("process_compliance_requests")["completed"] == 2
