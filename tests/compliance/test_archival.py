"""Audit-log archival: lossless, hold-respecting, resumable after a SIGKILL at any step."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from auralink.compliance import archival
from auralink.jobs import run_job

from tests.nights import ending

from .conftest import build_world, skipped_items

AS_OF = "2026-11-27T00:00:00+00:00"  # May and June 2026 are wholly past 90 days; November is not


def _all_audit_ids(c) -> set[int]:
    live = {r[0] for r in c.execute("SELECT id FROM audit_logs")}
    held = {r[0] for r in c.execute("SELECT id FROM audit_logs_held")}
    return live | held


def _archived_ids(c) -> set[int]:
    ids: set[int] = set()
    for (loc,) in c.execute("SELECT location FROM audit_log_archives WHERE status = 'dropped'"):
        rows = list(archival.archive_rows(loc))
        ids |= {int(r[0]) for r in rows[1:]}
    return ids


def test_archives_verifies_and_drops_old_partitions(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    build_world(db_url, tmp_path)
    with psycopg.connect(db_url, autocommit=True) as c:
        before = _all_audit_ids(c)
        result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert result["status"] == "succeeded", result
        # January..July 2026 end on or before the cutoff (2026-08-29); May and June hold the rows.
        assert result["dropped"] == 7 and result["rows_archived"] == 60
        parts = {r[0] for r in c.execute("SELECT partition_name FROM monthly_partitions('audit_logs')")}
        assert not {f"audit_logs_p2026{m:02d}" for m in range(1, 8)} & parts
        assert {"audit_logs_p202608", "audit_logs_p202611"} <= parts
        rows = c.execute("SELECT partition_name, status, row_count, content_sha256, file_sha256, min_occurred_at,"
                         " max_occurred_at FROM audit_log_archives ORDER BY partition_name").fetchall()
        dropped = [r for r in rows if r[0] in ("audit_logs_p202605", "audit_logs_p202606")]
        assert all(r[1] == "dropped" and r[2] == 30 and len(r[3]) == 64 and r[5] and r[6] for r in dropped)
        # Nothing lost: every id is either still live or in an archive file.
        assert before == _all_audit_ids(c) | _archived_ids(c)
        # A second run has nothing left to do, and the SQL-side archival still works alongside.
        again = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert again["rows_archived"] == 0
        old = c.execute("SELECT count(*) FROM audit_logs WHERE occurred_at < now() - interval '1 day'").fetchone()[0]
        assert old > 0
        assert c.execute("SELECT archive_old_audit_logs(interval '1 day')").fetchone()[0] == old
        assert c.execute("SELECT count(*) FROM audit_logs_archive").fetchone()[0] == old


def test_empty_old_partitions_are_archived_too(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-01-01', '2026-02-01')")
        result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert result["dropped"] == 2 and result["rows_archived"] == 0


def test_legal_hold_rows_move_to_held_table_and_are_reported(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    w = build_world(db_url, tmp_path)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, case_reference, placed_by)"
                  " VALUES (%s,'user',%s,'Litigation: Liddell v Wonder','C-42','legal@wonder')", (w.org, w.alice))
        alice_old = c.execute("SELECT count(*) FROM audit_logs WHERE actor_user_id = %s AND occurred_at < '2026-07-01'",
                              (w.alice,)).fetchone()[0]
        result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert result["rows_held"] == alice_old == 20
        assert result["rows_archived"] == 60 - alice_old
        held = c.execute("SELECT count(*), min(hold_reason) FROM audit_logs_held WHERE actor_user_id = %s", (w.alice,)).fetchone()
        assert held[0] == alice_old and "Liddell v Wonder" in held[1]
        skipped = skipped_items(db_url, result["run_id"])
        assert skipped and all("legal hold" in s[2] and "C-42" in s[2] for s in skipped)
        # The archive files hold none of the held rows.
        archived = _archived_ids(c)
        held_ids = {r[0] for r in c.execute("SELECT id FROM audit_logs_held")}
        assert not archived & held_ids


def test_a_month_whose_rows_the_archive_and_held_copy_miss_is_kept(db_url, tmp_path, monkeypatch):
    """The partition goes whole, held rows included: only once the archive's rows and the held copy add up
    to every row of it. A held copy that kept nothing leaves each month with held rows attached, intact."""
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    w = build_world(db_url, tmp_path)
    monkeypatch.setattr(archival, "_keep_held_rows", lambda conn, name, predicate: {})
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by)"
                  " VALUES (%s,'user',%s,'Litigation','legal@wonder')", (w.org, w.alice))
        before = _all_audit_ids(c)
        result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        failed = {r["partition"]: r["note"] for r in result["results"] if r["status"] == "failed"}
        assert set(failed) == {"audit_logs_p202605", "audit_logs_p202606"}
        assert all("held != the partition's 30 rows" in note for note in failed.values()), failed
        assert c.execute("SELECT count(*) FROM audit_logs WHERE occurred_at < '2026-07-01'").fetchone()[0] == 60
        assert before == _all_audit_ids(c)


def test_a_write_arriving_mid_pass_is_archived_not_lost(db_url, tmp_path, monkeypatch):
    """A back-dated event for the month arrives while it is being archived: it waits for the pass's lock,
    the pass gives way (rolls back, the event lands) and archives the month again with it."""
    import threading

    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=5)
    real_verify = archival._verify_archive
    calls = {"n": 0}
    writers: list[threading.Thread] = []

    def verify_then_insert(conn, name, written, *held):
        verified = real_verify(conn, name, written, *held)
        if name != "audit_logs_p202605":
            return verified
        if calls["n"] == 0:
            def late_event() -> None:
                with psycopg.connect(db_url, autocommit=True) as other:
                    other.execute("INSERT INTO audit_logs (action, occurred_at) VALUES ('late.event', '2026-05-20')")
            writers.append(threading.Thread(target=late_event))
            writers[0].start()
            deadline = time.monotonic() + 30
            while not archival._writers_waiting(conn, name):  # it waits for the month's lock
                assert time.monotonic() < deadline, "the late write never reached the lock"
                time.sleep(0.05)
        calls["n"] += 1
        return verified

    monkeypatch.setattr(archival, "_verify_archive", verify_then_insert)
    result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
    writers[0].join(timeout=30)
    assert result["rows_archived"] == 6 and calls["n"] == 2


def test_the_bulk_hold_match_is_legal_hold_applies(db_url, tmp_path):
    """Parity: the join over legal_holds_in_force() that moves held rows selects exactly the rows
    legal_hold_applies() holds, for holds of every scope (and released ones)."""
    w = build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=40)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE audit_logs SET resource_type = 'recording', resource_id = 'rec-' || (id % 7)")
        c.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s, 'organization', 'org', 'l')",
                  (w.other_org,))
        c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by) VALUES (%s, 'user', %s, 'u', 'l')",
                  (w.org, w.alice))
        c.execute("INSERT INTO legal_holds (organization_id, scope, resource_type, resource_id, reason, placed_by) VALUES "
                  "(%s, 'resource', 'recording', 'rec-3', 'r', 'l')", (w.org,))
        c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by, released_at) VALUES "
                  "(%s, 'user', %s, 'released', 'l', now())", (w.org, w.bob))
        scopes = {"organization", "user", "resource"}
        by_join = {r for (r,) in c.execute(
            f"SELECT p.id FROM audit_logs p WHERE {archival.held_rows_predicate('p', scopes)}").fetchall()}
        by_function = {r for (r,) in c.execute(
            "SELECT id FROM audit_logs WHERE legal_hold_applies(organization_id, actor_user_id, resource_type, resource_id)"
        ).fetchall()}
        assert by_join == by_function and 0 < len(by_join) < c.execute("SELECT count(*) FROM audit_logs").fetchone()[0]
        in_force = {s for (s,) in c.execute("SELECT DISTINCT scope FROM legal_holds_in_force()")}
        assert in_force == scopes


@pytest.mark.parametrize("scopes", [("organization",), ("organization", "user", "resource")])
def test_each_held_row_keeps_the_reason_legal_hold_reasons_gives_it(scopes, db_url, tmp_path, monkeypatch):
    """Parity: the reason the move computes once per distinct hold argument is the one
    legal_hold_reasons() gives each row, with overlapping holds and events without an actor."""
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    w = build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=40)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE audit_logs SET resource_type = 'recording', resource_id = 'rec-' || (id % 7)")
        c.execute("UPDATE audit_logs SET actor_user_id = NULL WHERE id % 5 = 0")
        holds = {"organization": [("organization", None, None, None)],
                 "user": [("user", w.alice, None, None)],
                 "resource": [("resource", None, "recording", "rec-3"), ("resource", None, "recording", "rec-4")]}
        for scope in scopes:
            for kind, user, rtype, rid in holds[scope]:
                c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, resource_type, resource_id, reason,"
                          " case_reference, placed_by) VALUES (%s, %s, %s, %s, %s, %s, 'C-1', 'l')",
                          (w.org, kind, user, rtype, rid, f"{kind} hold"))
        expected = dict(c.execute(
            "SELECT id, legal_hold_reasons(organization_id, actor_user_id, resource_type, resource_id) FROM audit_logs "
            "WHERE legal_hold_applies(organization_id, actor_user_id, resource_type, resource_id)").fetchall())
        result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        kept = dict(c.execute("SELECT id, hold_reason FROM audit_logs_held").fetchall())
        assert kept == expected and result["rows_held"] == len(expected) > 0
        # One organization hold gives one reason; the overlapping holds give rows several.
        assert (len(set(kept.values())) == 1) == (scopes == ("organization",))


def test_an_older_gzip_archive_still_verifies_and_restores(db_url, tmp_path):
    """Archives written before zstd (.csv.gz, as the archival wrote them) read back with the same checksum
    and rows, and restore with standard tools' path (COPY FROM the CSV)."""
    import hashlib

    build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=3)
    with psycopg.connect(db_url, autocommit=True) as c:
        out = bytearray()
        with c.cursor().copy(archival.copy_sql("audit_logs_p202605")) as copy:
            for chunk in copy:
                out += chunk
        csv_text = bytes(out)
        old = tmp_path / "audit_logs_p202605.csv.gz"
        old.write_bytes(gzip.compress(csv_text, mtime=0))
        content_sha, rows, file_sha = archival.read_archive(str(old))
        assert content_sha == hashlib.sha256(csv_text).hexdigest() and rows == 3
        assert file_sha == hashlib.sha256(old.read_bytes()).hexdigest()
        assert len(list(archival.archive_rows(str(old)))) == 4  # the header and three records
        assert archival.restore_sql_hint(str(old)).startswith("gunzip -c ")
        assert archival.restore_sql_hint(str(old).replace(".gz", ".zst")).startswith("zstd -dc ")
        with c.cursor().copy(f"COPY audit_logs_archive ({', '.join(archival.COLUMNS)}) FROM STDIN "
                             "WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(gzip.decompress(old.read_bytes()))
        assert c.execute("SELECT count(*) FROM audit_logs_archive").fetchone()[0] == 3


def _spawn(db_url: str, home: Path, arch: Path, pause_at: str | None) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=db_url, AURALINK_HOME=str(home), AURALINK_ARCHIVE_URL=str(arch))
    env.pop("AURALINK_ARCHIVE_PAUSE_AT", None)
    if pause_at:
        env["AURALINK_ARCHIVE_PAUSE_AT"] = pause_at
    code = ("from auralink.jobs import run_job; from tests.nights import ending; import json, sys; "
            f"r = run_job('archive_audit_logs', interval=ending('{AS_OF}')); print(json.dumps(r, default=str))")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("step", archival.STEPS)
def test_killed_run_loses_nothing_and_rerun_completes(step, db_url, tmp_path):
    home, arch = tmp_path / "home", tmp_path / "arch"
    home.mkdir()
    w = build_world(db_url, tmp_path)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO legal_holds (organization_id, scope, reason, placed_by) VALUES (%s,'organization',"
                  "'Regulator inquiry','legal')", (w.other_org,))
        before = _all_audit_ids(c)
        proc = _spawn(db_url, home, arch, step)
        marker = home / f"archive-paused-{step}"
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never reached the pause point"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Killed mid-way: every row is still somewhere (live, held, or in a dropped partition's verified file).
        assert before == _all_audit_ids(c) | _archived_ids(c)
        rerun = _spawn(db_url, home, arch, None)
        _out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err.decode()
        statuses = dict(c.execute("SELECT partition_name, status FROM audit_log_archives").fetchall())
        assert statuses["audit_logs_p202605"] == statuses["audit_logs_p202606"] == "dropped"
        assert before == _all_audit_ids(c) | _archived_ids(c)
        held = c.execute("SELECT count(*) FROM audit_logs_held").fetchone()[0]
        assert held == 12  # every 5th row of the two old months belongs to the held organization
        assert not list(arch.rglob("*.partial")) or step == "mid_write"


def test_archive_location_can_be_any_fsspec_url(db_url, tmp_path, monkeypatch):
    import fsspec

    monkeypatch.setenv("AURALINK_ARCHIVE_URL", "memory://auralink-test/archives")
    build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=7)
    result = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
    assert result["rows_archived"] == 7
    fs = fsspec.filesystem("memory")
    lines = list(archival.archive_rows("memory://auralink-test/archives/audit_logs/audit_logs_p202605.csv.zst"))
    assert len(lines) == 8 and lines[0][:2] == ["id", "organization_id"]
    assert fs.exists("/auralink-test/archives/audit_logs/audit_logs_p202605.csv.zst")
    assert not fs.glob("/auralink-test/archives/**/*.partial")


def test_held_rows_are_archived_once_their_hold_is_released(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    w = build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=9)
    with psycopg.connect(db_url, autocommit=True) as c:
        hold = c.execute("INSERT INTO legal_holds (organization_id, scope, user_id, reason, placed_by)"
                         " VALUES (%s,'user',%s,'Dispute','legal') RETURNING id", (w.org, w.alice)).fetchone()[0]
        before = _all_audit_ids(c)
        first = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert first["rows_held"] == 3 and first["released_rows_archived"] == 0
        c.execute("UPDATE legal_holds SET released_at = now() WHERE id = %s", (hold,))
        second = run_job("archive_audit_logs", {}, interval=ending(AS_OF))
        assert second["released_rows_archived"] == 3
        assert c.execute("SELECT count(*) FROM audit_logs_held").fetchone()[0] == 0
        assert before == _all_audit_ids(c) | _archived_ids(c)
        assert run_job("archive_audit_logs", {}, interval=ending(AS_OF))["released_rows_archived"] == 0


def test_a_month_that_comes_back_is_archived_to_a_new_file(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AURALINK_ARCHIVE_URL", str(tmp_path / "arch"))
    build_world(db_url, tmp_path, audit_months=("2026-05",), audit_rows_per_month=4)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert run_job("archive_audit_logs", {}, interval=ending(AS_OF))["rows_archived"] == 4
        c.execute("SELECT ensure_monthly_partitions('audit_logs', '2026-05-01', '2026-05-01')")
        c.execute("INSERT INTO audit_logs (action, occurred_at) VALUES ('late.event', '2026-05-20')")
        assert run_job("archive_audit_logs", {}, interval=ending(AS_OF))["rows_archived"] == 1
        rows = c.execute("SELECT partition_name, row_count, location FROM audit_log_archives"
                         " WHERE partition_name LIKE 'audit_logs_p202605%%' ORDER BY id").fetchall()
        assert [r[1] for r in rows] == [4, 1] and rows[0][2] != rows[1][2]
        assert rows[1][0] == "audit_logs_p202605" and rows[0][0].startswith("audit_logs_p202605#")
        assert len(_archived_ids(c)) == 5
