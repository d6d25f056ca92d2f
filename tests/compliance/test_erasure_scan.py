"""After one erasure of a subject who is everywhere (calls with colleagues and a colleague's call about
her, transcripts, summaries, security events, exports, a custom report, a compliance report, Data Docs, dbt
analytics, archived audit partitions, an organization under a legal hold), a scan of every column of every
table, view and dbt model and of every file the project wrote finds nothing of her, except: rows under the
hold, the tombstone (and the staging view that shows it), columns the proof names as kept on a basis, and
the immutable cold archives the proof names."""

from __future__ import annotations

import datetime as dt

from auralink.compliance import catalog as catalog_mod
from auralink.jobs import run_job
from auralink.jobs.interval import DataInterval

from .conftest import ALICE_IP, erase_by_email, proof_of
from .scan import scan_database, scan_files


def test_nothing_of_the_subject_is_left_but_what_the_proof_names(rich_world, db):
    from auralink.analytics.dbt_runner import build

    w = rich_world.w
    night = DataInterval.for_day(dt.date(2026, 11, 20))
    build(url=w.url, interval=night)
    db.execute("INSERT INTO legal_holds (organization_id, scope, reason, case_reference, placed_by) VALUES"
               " (%s, 'organization', 'Regulator inquiry', 'RI-3', 'legal')", (w.other_org,))
    archived = run_job("archive_audit_logs", {}, interval=night, url=w.url)
    assert archived["status"] == "succeeded", archived
    needles = [*rich_world.identifiers(), ALICE_IP]
    assert scan_database(db, needles) and scan_files([rich_world.home], needles)   # she is everywhere before

    _rid, _result, (status, error, location, _) = erase_by_email(w.url, w)
    assert (status, error) == ("completed", None)
    proof = proof_of(location)

    cat = catalog_mod.load()
    exclude = {f"public.{t.name}": t.holds.predicate() for t in cat.tables.values() if t.holds is not None}
    exclude["public.users"] = f"t.id = '{w.alice}' AND t.erased_at IS NOT NULL"   # the tombstone
    exclude["analytics_staging.stg_users"] = f"t.user_id = '{w.alice}' AND t.is_erased"
    kept = {k["column"] for k in proof["kept_columns"]}
    left = [h for h in scan_database(db, needles, exclude) if f"{h.relation.removeprefix('public.')}.{h.column}" not in kept]
    assert left == []
    # What was kept on a basis, or held, is named in the proof.
    assert any("Regulator inquiry" in h["reason"] for h in proof["held"])
    assert {"consent_history.user_id", "legal_holds.reason"} <= kept

    cold = {a["archive"].removeprefix("file://") for a in proof["cold_archives"]}
    assert cold and all(a["retention_end"] and a["basis"] for a in proof["cold_archives"])
    files = scan_files([rich_world.home], needles, exclude=cold)
    assert files == {}
    # The cold archives do still hold her (immutable), and only they.
    assert scan_files([rich_world.home / "archives"], needles)
