"""Generated from the catalog: the subject's identifiers planted in every identifier, reference, free-text
and record column of every table (in other people's rows where that is how they would appear, in her
own where the value is hers only when the row is: IPs, devices, places), then one erasure. Each planted
value must be gone, or kept unchanged on the basis the catalog names for it, which the proof must state.
A new column the catalog classifies is planted and checked with no change here."""

from __future__ import annotations

import psycopg
import pytest
from auralink.compliance import catalog as catalog_mod
from auralink.compliance.linking import Identity, _q, key_condition, link
from psycopg.types.json import Jsonb

from .conftest import ALICE_IP, erase_by_email, proof_of

# Rows for tables a world may leave empty: someone else's, so a planted identifier is a mention, not a link.
SAMPLE_ROWS = {
    "ai_usage": "INSERT INTO ai_usage (organization_id, user_id, feature, provider, model, unit_type, occurred_at)"
                " VALUES (%(org)s, %(bob)s, 'llm', 'openai', 'gpt', 'requests', now())",
    "api_keys": "INSERT INTO api_keys (organization_id, created_by, name, key_prefix, secret_encrypted)"
                " VALUES (%(org)s, %(bob)s, 'ci', 'ak_2', '\\x01'::bytea)",
    "user_role_assignments": "INSERT INTO user_role_assignments (user_id, organization_id, role_id, granted_by)"
                             " SELECT %(bob)s, %(org)s, id, %(bob)s FROM rbac_roles LIMIT 1",
    "consents": "INSERT INTO consents (user_id, organization_id, purpose, granted) VALUES (%(bob)s, %(org)s, 'marketing', true)",
    "invoices": "INSERT INTO invoices (organization_id, invoice_number, period_start, period_end, billing_email)"
                " VALUES (%(other)s, 1, '2026-10-01', '2026-11-01', 'billing@other.example')",
    "audit_logs_archive": "INSERT INTO audit_logs_archive (id, organization_id, actor_user_id, actor_email, action,"
                          " resource_type, resource_id, occurred_at) VALUES (900001, %(org)s, %(bob)s,"
                          " 'bob.builder@example.com', 'auth.login', 'user', %(bob)s::text, '2026-01-05')",
    "audit_logs_held": "INSERT INTO audit_logs_held (id, organization_id, actor_user_id, actor_email, action,"
                       " resource_type, resource_id, occurred_at, hold_reason, source_partition) VALUES (900002,"
                       " %(org)s, %(bob)s, 'bob.builder@example.com', 'auth.login', 'user', %(bob)s::text,"
                       " '2026-01-06', 'hold 1 (organization): released since', 'audit_logs_p202601')",
    "legal_holds": "INSERT INTO legal_holds (organization_id, scope, user_id, resource_type, resource_id, reason,"
                   " case_reference, placed_by, placed_at, released_at) VALUES (%(org)s, 'user', %(bob)s, 'call',"
                   " 'c-1', 'Old dispute', 'OD-1', 'legal', now() - interval '2 days', now() - interval '1 day')",
    "retention_runs": "INSERT INTO retention_runs (organization_id, resource_type, action, retention_days, cutoff,"
                      " status, details) VALUES (%(org)s, 'transcripts', 'delete', 30, now(), 'succeeded', '{}')",
    "airflow_dag_runs": "INSERT INTO airflow_dag_runs (dag_id, run_id, state) VALUES ('nightly', 'r1', 'success')",
    "airflow_task_runs": "INSERT INTO airflow_task_runs (dag_id, run_id, task_id, try_number, state)"
                         " VALUES ('nightly', 'r1', 't', 1, 'failed')",
    "argo_workflows": "INSERT INTO argo_workflows (name, uid, template, status) VALUES ('w', 'u1', 'nightly', 'Failed')",
    "consent_withdrawal_removals": None,   # no personal column but a hold reason (see below)
}
# Kept record columns whose rows need a shape the CHECKs accept.
SPECIAL = {
    ("consent_withdrawal_removals", "hold_reason"): "skip: rows exist only for a real withdrawal (a record)",
    ("consent_history", "user_id"): "insert",   # append-only: a new state names her
    ("erasure_ledger", "pseudonym"): "skip: written by erasure alone, a pseudonym",
}


def _planted_text(w) -> str:
    return f"planted {w.alice_email} / {w.alice_name} / {w.alice_phone} / {w.alice}"


def _value(col: catalog_mod.Column, typ: str, current, w):
    if typ == "uuid":
        return w.alice
    if typ == "inet":
        return ALICE_IP
    if typ.startswith("character(") or typ == "bpchar":
        return "VN"
    if col.kind == "email":
        return w.alice_email
    if col.kind == "name":
        return w.alice_name
    if col.kind == "phone":
        return w.alice_phone
    if col.kind == "user_id":
        return str(w.alice)
    if col.kind == "device":
        return "Mozilla/5.0 (planted: Alice's phone)"
    if typ in ("jsonb", "json"):
        if isinstance(current, list):
            return Jsonb([*current, {"planted": _planted_text(w)}])
        if isinstance(current, dict):
            return Jsonb({**current, "planted": _planted_text(w)})
        return Jsonb({"planted": _planted_text(w)})
    if typ.endswith("[]"):
        return [_planted_text(w)]
    return _planted_text(w)


def _owned_filter(table: catalog_mod.Table, col: catalog_mod.Column, types: dict[str, str]) -> str:
    parts = [f"t.{_q(o)} = %(alice)s" if types[o] == "uuid" else f"lower(t.{_q(o)}) = %(alice_email)s"
             for o in col.owner]
    return "(" + " OR ".join(parts) + ")"


def _plant(conn, table, col, types, linked_keys, w) -> tuple | None:
    """Write the planted value into a fitting row; returns its key (None: no row can take it)."""
    typ = types[col.name]
    params = {"alice": w.alice, "alice_email": w.alice_email.lower()}
    where = ["true"]
    if col.erase == "null":   # an IP, a device, a place: hers only in her own rows
        where.append(_owned_filter(table, col, types))
    link_rule = next((lk for lk in table.links if lk.column == col.name and lk.where), None)
    if link_rule:
        where.append(link_rule.where.replace("%(u)s", "%(alice)s"))
    keys = ", ".join(f"t.{_q(k)}" for k in table.key)
    rows = conn.execute(f"SELECT {keys}, t.{_q(col.name)} FROM {_q(table.name)} t WHERE {' AND '.join(where)} "
                        f"ORDER BY 1 DESC", params).fetchall()
    if col.erase != "null":   # prefer someone else's row: the identifier then has to be found, not followed
        rows.sort(key=lambda r: tuple(r[:len(table.key)]) in linked_keys)
    for row in rows:
        key = tuple(row[:len(table.key)])
        cond, kp = key_condition(table, types, [key])
        try:
            with conn.transaction():
                conn.execute(f"UPDATE {_q(table.name)} t SET {_q(col.name)} = %(v)s WHERE {cond}",
                             {**kp, "v": _value(col, typ, row[-1], w)})
            return key
        except psycopg.errors.IntegrityError:
            continue   # a unique key or a CHECK this row cannot take: the next one
    return None


@pytest.fixture
def planted(rich_world, db):
    w = rich_world.w
    cat = catalog_mod.load()
    types = catalog_mod.column_types(db, cat.tables)
    names = {"org": w.org, "other": w.other_org, "bob": w.bob}
    for table, sql in SAMPLE_ROWS.items():
        if sql and not db.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(table)} WHERE true)").fetchone()[0]:
            db.execute(sql, names)
        elif sql and table in ("consents", "api_keys", "user_role_assignments", "ai_usage", "invoices"):
            db.execute(sql, names)   # someone else's row beside hers
    before = link(db, cat, Identity(w.alice, w.alice_email), types)
    plants: list[tuple[catalog_mod.Table, catalog_mod.Column, tuple | None]] = []
    for table in cat.tables.values():
        if table.name == "users":   # her own row is the tombstone; the others' identities are theirs
            continue
        for col in table.columns.values():
            if col.cls not in ("identifier", "reference", "free_text", "record") or col.name not in types[table.name]:
                continue
            how = SPECIAL.get((table.name, col.name))
            if how and how.startswith("skip"):
                continue
            if how == "insert":
                db.execute("INSERT INTO consent_history (consent_id, user_id, organization_id, purpose, state,"
                           " valid_from, source) VALUES (0, %s, %s, 'analytics', 'granted', now(), 'insert')",
                           (w.alice, w.org))
                key = db.execute("SELECT max(id) FROM consent_history").fetchone()
                plants.append((table, col, tuple(key)))
                continue
            linked_keys = set(before[table.name].keys) if table.name in before else set()
            key = _plant(db, table, col, types[table.name], linked_keys, w)
            assert key is not None, (f"no row of {table.name} can hold a planted {col.name}: add one to "
                                     "SAMPLE_ROWS in this test")
            plants.append((table, col, key))
    return cat, types, plants


def test_every_planted_identifier_is_erased_or_kept_on_the_catalogs_basis(rich_world, db, planted):
    cat, types, plants = planted
    w = rich_world.w
    _rid, _result, (status, error, location, _) = erase_by_email(w.url, w)
    assert (status, error) == ("completed", None)
    proof = proof_of(location)
    kept_columns = {(k["column"], k["basis"]) for k in proof["kept_columns"]}
    idents = [s.lower() for s in rich_world.identifiers()] + [ALICE_IP, "alice's phone"]
    problems = []
    for table, col, key in plants:
        cond, kp = key_condition(table, types[table.name], [key])
        row = db.execute(f"SELECT t.{_q(col.name)}::text FROM {_q(table.name)} t WHERE {cond}", kp).fetchone()
        if row is None:
            continue   # the row went (a consent, a role grant, a casbin rule of hers)
        value = (row[0] or "").lower()
        still = [i for i in idents if i.lower() in value]
        if col.erase == "keep":
            basis = cat.bases[col.basis or table.basis]
            if not still:
                problems.append(f"{table.name}.{col.name}: kept on {col.basis} but changed")
            if (f"{table.name}.{col.name}", basis) not in kept_columns:
                problems.append(f"{table.name}.{col.name}: kept, but the proof does not name {col.basis}")
        elif still:
            problems.append(f"{table.name}.{col.name} (row {key}): still holds {still}")
    assert problems == []
    assert len(plants) > 60   # every classified personal column of every table
