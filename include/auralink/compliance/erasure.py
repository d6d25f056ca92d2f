"""Erasure (GDPR Art. 17), driven by the data catalog (``catalog.yaml``): find every copy of the subject,
delete what can go, pseudonymize what must stay, respect every legal hold, reach derived data and files,
and write a proof of erasure.

The steps, each as the catalog says per table and column:

1. **Link**: the subject's rows, from their identity through indexed identity columns and the references
   between tables (:mod:`auralink.compliance.linking`); nothing is scanned.
2. **Holds**: every linked row is checked with ``legal_hold_applies`` for its organization, user and each
   resource it belongs to (a transcript: itself, its recording, its call); held rows stay exactly as they
   are and the proof lists them with the hold's reason. A hold on the subject blocks the whole erasure.
3. **Act**: rows a rule deletes go (a solo call's audio, transcript and summary; consents; role grants);
   the rest is pseudonymized column by column: references to the subject's pseudonymous uuid (never NULL,
   so active-user and member counts do not change when analytics are rebuilt), identifiers and free text
   rewritten (user id -> pseudonymous uuid, e-mail -> ``<pseudonym>@erased.invalid``, name, phone and the
   subject's IP addresses -> ``<pseudonym>``), the subject's own IPs, devices and places nulled.
4. **Mentions** in other people's rows (a third party's call that names the subject, an admin's audit
   event): found through each table's words index (``erasure_document``), confirmed by an exact
   whole-token regex, rewritten the same way; held rows are kept.
5. **Derived data**: dbt tables holding a reference are rewritten for the subject through their index
   (whatever their age), materialized views holding one are refreshed, views need nothing.
6. **Files**: the subject's exports and solo audio are deleted; other people's exports, custom report
   outputs, compliance reports and Data Docs pages that named the subject are rewritten, found through
   their records. Cold archives are immutable: the proof names them with their basis and retention end.

The users row becomes a tombstone (``erased_at``, ``pseudonym``); a second row with the pseudonymous uuid
is what the kept rows' foreign keys now point at. Everything happens in the caller's transaction; files
are touched last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from auralink.compliance import catalog as catalog_mod
from auralink.compliance import holds, storage
from auralink.compliance.catalog import Catalog, Column, Table
from auralink.compliance.exports import to_json_text
from auralink.compliance.linking import Identity, Linked, _q, key_condition, link, rule_sql
from auralink.compliance.subject import Subject
from auralink.db.connection import scalar

log = logging.getLogger(__name__)

DEFAULT_SCOPE = ("exports", "consents", "memberships", "roles", "calls", "recordings", "transcripts", "summaries",
                 "ai_usage", "usage_records", "invoices", "audit_logs", "security_events", "api_keys", "requests",
                 "profile", "sweep", "reports", "analytics", "files")
HELD_ITEMS = 200   # held item ids listed per table and hold in the proof (the count is always complete)
_TEXT = ("text", "character varying")


class ErasureBlocked(RuntimeError):
    """A legal hold on the subject (or its organization) keeps everything."""


def pseudonym_for(user_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    """A stable pseudonym (text) and pseudonymous uuid; keyed, so not reversible without the key."""
    from auralink.crypto import load_key

    digest = hmac.new(load_key(), b"auralink-pseudonym:" + str(user_id).encode(), hashlib.sha256).digest()
    return "subject-" + digest[:10].hex(), uuid.UUID(bytes=digest[16:32], version=4)


@dataclass
class ErasureReport:
    request_id: str
    organization_id: str
    pseudonym: str
    performed_at: str
    catalog_version: str = ""
    deleted: dict[str, int] = field(default_factory=dict)
    pseudonymized: dict[str, int] = field(default_factory=dict)
    mentions: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)
    kept_columns: list[dict[str, Any]] = field(default_factory=list)   # kept whatever they say, and why
    held: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[Any]] = field(default_factory=lambda: {"deleted": [], "rewritten": [], "regenerated": [],
                                                                   "held": [], "kept": []})
    files_deleted: int = 0
    views_to_rebuild: list[str] = field(default_factory=list)
    views_rebuilt: list[str] = field(default_factory=list)
    cold_archives: list[dict[str, Any]] = field(default_factory=list)
    unclassified: list[str] = field(default_factory=list)
    skipped_categories: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)   # seconds per step

    def add(self, bucket: str, what: str, n: int) -> None:
        if n:
            target = {"deleted": self.deleted, "mentions": self.mentions}.get(bucket, self.pseudonymized)
            target[what] = target.get(what, 0) + n

    def keep(self, what: str, rows: int, basis: str | None) -> None:
        if rows:
            self.kept.append({"what": what, "rows": rows, "basis": basis})


def _pg_escape(text: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def token_regex(values: list[str]) -> str | None:
    """One case-insensitive PostgreSQL regex for the values, whole tokens only: erasing "Bench User 1"
    must not touch "Bench User 10"."""
    values = sorted({v for v in values if v}, key=len, reverse=True)
    if not values:
        return None
    return "(?<![[:alnum:]_])(" + "|".join(_pg_escape(v) for v in values) + ")(?![[:alnum:]_])"


@dataclass
class _Patterns:
    """The subject's identifiers and their replacements, as PostgreSQL regexes (``params``) and in Python
    (``rewrite``, for files); ``with_ips`` also replaces the subject's IP addresses (rows linked to them)."""

    pseudo: str
    pseudo_email: str
    pseudo_uuid: uuid.UUID
    uuids: list[str]
    emails: list[str]
    others: list[str]
    ips: list[str] = field(default_factory=list)

    def _groups(self, with_ips: bool) -> list[tuple[list[str], str]]:
        return [(self.uuids, str(self.pseudo_uuid)), (self.emails, self.pseudo_email),
                (self.others + (self.ips if with_ips else []), self.pseudo)]

    def params(self, *, with_ips: bool) -> dict[str, Any]:
        groups = self._groups(with_ips)
        pats = [token_regex(values) for values, _ in groups]
        return {"pat": pats, "rep": [rep for _, rep in groups],
                "any_rx": token_regex([v for values, _ in groups for v in values])}

    def rewrite(self, text: str, *, with_ips: bool = False) -> str:
        for values, rep in self._groups(with_ips):
            rx = _python_regex(values)
            if rx is not None:
                text = rx.sub(rep, text)
        return text

    def found(self, text: str, *, with_ips: bool = False) -> bool:
        rx = _python_regex([v for values, _ in self._groups(with_ips) for v in values])
        return bool(rx and rx.search(text))


def _python_regex(values: list[str]) -> re.Pattern[str] | None:
    """The same whole-token match as :func:`token_regex`, for Python (files)."""
    values = sorted({v for v in values if v}, key=len, reverse=True)
    if not values:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(v) for v in values) + r")(?!\w)", re.IGNORECASE)


class _Erasure:
    def __init__(self, conn: psycopg.Connection, cat: Catalog, subject: Subject, request_id: Any,
                 organization_id: Any, categories: tuple[str, ...], refresh_views: bool,
                 record_skip: Callable[[str, Any, str], None] | None):
        self.conn, self.cat, self.subject = conn, cat, subject
        self.request_id, self.want, self.refresh_views = request_id, set(categories), refresh_views
        self.record_skip = record_skip
        self.pseudo, self.pseudo_uuid = pseudonym_for(subject.user_id)
        self.pseudo_email = f"{self.pseudo}@erased.invalid"
        self.identity = Identity(subject.user_id, subject.email)
        self.report = ErasureReport(str(request_id), str(organization_id), self.pseudo,
                                    dt.datetime.now(dt.UTC).isoformat(), cat.version)
        self.types = catalog_mod.column_types(conn, cat.tables)
        self.base = {**self.identity.params(), "pseudo": self.pseudo, "pseudo_email": self.pseudo_email,
                     "pseudo_uuid": self.pseudo_uuid}
        self.linked: dict[str, Linked] = {}
        self.acted: dict[str, set[tuple]] = {}       # linked keys pseudonymized or deleted (not held)
        self.files_to_delete: list[str] = []
        self.touched: dict[str, list[tuple]] = {}    # table -> keys rewritten (linked or mentions)
        self.affected_users: set[uuid.UUID] = set()  # people whose exports may show the subject
        self.affected_calls: set[uuid.UUID] = set()

    # -- helpers ------------------------------------------------------------------------------------------
    def run(self, query: str, params: dict[str, Any] | None = None) -> psycopg.Cursor:
        return self.conn.execute(query, {**self.base, **(params or {})}, prepare=False)

    def allowed(self, category: str | None) -> bool:
        return category is None or category in self.want

    def owned(self, table: Table, column: Column) -> str:
        tt = self.types[table.name]
        parts = [f"t.{_q(o)} = %(u)s" if tt[o] == "uuid" else f"lower(t.{_q(o)}) = %(email)s" for o in column.owner]
        return "(" + " OR ".join(parts) + ")"

    def rewrite_expr(self, col: str, typ: str) -> str | None:
        c = f"t.{_q(col)}"
        if typ in ("jsonb", "json"):
            return f"erasure_rewrite({c}::text, %(pat)s::text[], %(rep)s::text[])::{typ}"
        if typ.endswith("[]"):
            return (f"CASE WHEN {c} IS NULL THEN NULL ELSE ARRAY(SELECT erasure_rewrite(x, %(pat)s::text[], "
                    f"%(rep)s::text[]) FROM unnest({c}) WITH ORDINALITY AS e(x, n) ORDER BY n)::{typ} END")
        if typ == "text" or typ.startswith("character varying"):
            return f"erasure_rewrite({c}, %(pat)s::text[], %(rep)s::text[])::{typ}"
        return None

    def text_of(self, col: str, typ: str) -> str:
        c = f"t.{_q(col)}"
        return f"array_to_string({c}, ' ')" if typ.endswith("[]") else f"{c}::text"

    def set_exprs(self, table: Table, *, mentions: bool) -> list[str]:
        tt = self.types[table.name]
        out = []
        columns = [table.columns[c] for c in table.hunted()] if mentions else table.personal()
        for col in columns:
            typ = tt.get(col.name)
            if typ is None:
                continue
            c = f"t.{_q(col.name)}"
            expr: str | None = None
            if col.erase == "pseudonym_uuid":
                expr = (f"CASE WHEN {c} = %(u)s THEN %(pseudo_uuid)s ELSE {c} END" if typ == "uuid"
                        else self.rewrite_expr(col.name, typ))
            elif col.erase == "null" and not mentions:
                expr = f"CASE WHEN {self.owned(table, col)} THEN NULL ELSE {c} END"
            elif col.erase in ("pseudonym", "pseudonym_email"):
                expr = self.rewrite_expr(col.name, typ)
                own = "%(pseudo_email)s" if col.kind == "email" else "%(pseudo)s"
                if expr and not mentions and col.owner:
                    expr = f"CASE WHEN {self.owned(table, col)} THEN {own} ELSE {expr} END"
                elif expr and col.erase == "pseudonym_email":
                    expr = f"CASE WHEN lower({c}) = %(email)s THEN %(pseudo_email)s ELSE {expr} END"
            if expr:
                out.append(f"{_q(col.name)} = {expr}")
        return out

    def note_held(self, table: Table, rows: list[tuple], nkey: int) -> set[tuple]:
        """Record held rows (key..., reason) per hold reason; returns their keys."""
        by_reason: dict[str, list[tuple]] = {}
        for row in rows:
            by_reason.setdefault(row[nkey] or "legal hold", []).append(tuple(row[:nkey]))
        for reason, keys in by_reason.items():
            self.report.held.append({"what": table.name, "rows": len(keys), "reason": reason,
                                     "basis": self.cat.bases["legal_claims"],
                                     "items": [str(k[0]) for k in keys[:HELD_ITEMS]]})
            if self.record_skip:
                self.record_skip(f"erasure:{table.name}", self.request_id,
                                 holds.skip_message(f"{reason} ({len(keys)} rows)"))
        return {k for keys in by_reason.values() for k in keys}

    def collect_affected(self, table: Table, rows: list[tuple]) -> None:
        """From RETURNING rows (call_id?, references...): whose exports may show the subject."""
        has_call = self.types[table.name].get("call_id") == "uuid"
        for row in rows:
            vals = list(row)
            if has_call:
                if isinstance(vals[0], uuid.UUID):
                    self.affected_calls.add(vals[0])
                vals = vals[1:]
            self.affected_users.update(v for v in vals if isinstance(v, uuid.UUID))

    def returning(self, table: Table) -> str:
        tt = self.types[table.name]
        cols = (["call_id"] if tt.get("call_id") == "uuid" else []) + [
            c.name for c in table.columns.values() if c.cls == "reference" and tt.get(c.name) == "uuid"]
        return ", ".join(f"t.{_q(c)}" for c in cols) or "1"

    # -- the steps ------------------------------------------------------------------------------------------
    def patterns(self) -> _Patterns:
        s = self.subject
        others = [v for v in (s.full_name, s.phone) if v and len(v.strip()) >= 3]
        ips = self.subject_ips()
        return _Patterns(self.pseudo, self.pseudo_email, self.pseudo_uuid, [str(s.user_id)], [s.email], others, ips)

    def subject_ips(self) -> list[str]:
        """The IP addresses recorded as the subject's own (an online identifier, GDPR Art. 4(1))."""
        ips: set[str] = set()
        for name, lk in self.linked.items():
            table = lk.table
            for col in table.columns.values():
                if col.kind != "ip" or not lk.keys or col.name not in self.types[name]:
                    continue
                cond, params = key_condition(table, self.types[name], lk.keys)
                rows = self.run(f"SELECT DISTINCT host(t.{_q(col.name)}) FROM {_q(name)} t WHERE {cond} "
                                f"AND t.{_q(col.name)} IS NOT NULL AND {self.owned(table, col)}", params).fetchall()
                ips.update(r[0] for r in rows)
        return sorted(ips)

    def twin(self) -> None:
        """The row the kept rows' user references point at from now on: the pseudonymous uuid."""
        self.run("INSERT INTO users (id, email, locale, is_active, created_at, erased_at, pseudonym) "
                 "SELECT %(pseudo_uuid)s, %(pseudo_email)s, 'en', false, created_at, now(), %(pseudo)s "
                 "FROM users WHERE id = %(u)s ON CONFLICT (id) DO NOTHING")

    def tombstone(self) -> None:
        self.run("UPDATE users SET email = %(tomb)s, full_name = NULL, phone = NULL, country = NULL, locale = 'en', "
                 "is_active = false, last_login_at = NULL, erased_at = now(), pseudonym = %(pseudo)s WHERE id = %(u)s",
                 {"tomb": f"{self.pseudo}+tombstone@erased.invalid"})
        self.report.add("pseudonymized", "users", 1)
        self.report.keep("users (tombstone)", 1, self.cat.bases["tombstone"])

    def act(self, table: Table, p: dict[str, Any]) -> None:
        lk = self.linked.get(table.name)
        if not lk or not lk.keys:
            return
        if not self.allowed(table.category):
            self.report.skipped_categories.append(table.category or table.name)
            return
        if table.on_link == "tombstone":
            self.tombstone()
            self.acted[table.name] = set(lk.keys)
            return
        nkey = len(table.key)
        cond, kp = key_condition(table, self.types[table.name], lk.keys)
        held: set[tuple] = set()
        if table.holds is not None:
            rows = self.run(f"SELECT {', '.join('t.' + _q(k) for k in table.key)}, {table.holds.reasons()} "
                            f"FROM {_q(table.name)} t WHERE {cond} AND {table.holds.predicate()}", kp).fetchall()
            held = self.note_held(table, rows, nkey)
        free = [k for k in lk.keys if k not in held]
        self.acted[table.name] = set(free)
        if table.on_link == "keep":   # counted now: earlier steps may have added rows (consent history)
            n = 0
            for rule in table.links:
                cond_p = rule_sql(rule, self.types[table.name], self.linked)
                if cond_p is not None:
                    n += scalar(self.conn, f"SELECT count(*) FROM {_q(table.name)} t WHERE {cond_p[0]}",
                                {**self.base, **cond_p[1]})
            self.report.keep(table.name, n - len(held), self.cat.basis(table.basis))
            return
        to_delete = [k for k in free if k in lk.delete or table.on_link == "delete"]
        to_update = [k for k in free if k not in lk.delete and table.on_link != "delete"]
        files = [c.name for c in table.columns.values() if c.cls == "file"]
        if to_delete:
            dcond, dp = key_condition(table, self.types[table.name], to_delete)
            ret = ", ".join(f"t.{_q(c)}" for c in files) or "1"
            if table.delete_as:
                rows = self.run(f"UPDATE {_q(table.name)} t SET {table.delete_as} WHERE {dcond} RETURNING {ret}",
                                dp).fetchall()
            else:
                rows = self.run(f"DELETE FROM {_q(table.name)} t WHERE {dcond} RETURNING {ret}", dp).fetchall()
            if files:
                self.files_to_delete += [v for r in rows for v in r if isinstance(v, str)]
            self.report.add("deleted", table.name, len(rows))
        if to_update:
            ucond, up = key_condition(table, self.types[table.name], to_update)
            sets = self.set_exprs(table, mentions=False)
            for c in table.columns.values():   # the subject's own files: removed, the location cleared
                if c.cls == "file" and c.erase == "delete" and self.allowed(c.category):
                    self.files_to_delete += [r[0] for r in self.run(
                        f"SELECT t.{_q(c.name)} FROM {_q(table.name)} t WHERE {ucond} AND t.{_q(c.name)} IS NOT NULL",
                        up).fetchall()]
                    sets.append(f"{_q(c.name)} = NULL")
            if table.also_set:
                sets.append(table.also_set)
            n = len(to_update)
            if sets:
                rows = self.run(f"UPDATE {_q(table.name)} t SET {', '.join(sets)} WHERE {ucond} "
                                f"RETURNING {self.returning(table)}", {**up, **p}).fetchall()
                n = len(rows)
                self.collect_affected(table, rows)
                self.touched.setdefault(table.name, []).extend(to_update)
            self.report.add("pseudonymized", table.name, n)
            self.report.keep(table.name, n, self.cat.basis(table.basis))
            kept_files = [c for c in table.columns.values() if c.cls == "file" and c.erase == "keep"]
            for c in kept_files:
                self.report.keep(f"{table.name}.{c.name} (files)", n, self.cat.basis(c.basis))

    def mentions(self, words: dict[str, str], tsq: str | None, p: dict[str, Any]) -> None:
        """Rows not linked to the subject whose free text names them: through the words index."""
        for table in self.cat.tables.values():
            cols = [c for c in table.hunted() if c in self.types.get(table.name, {})]
            if not cols or tsq is None:
                continue
            tt = self.types[table.name]
            recheck = " OR ".join(f"{self.text_of(c, tt[c])} ~* %(any_rx)s" for c in cols)
            index = words.get(table.name)
            if index is None:
                self.report.unclassified.append(f"{table.name}: no words index over {', '.join(cols)}; scanned")
                candidates = f"({recheck})"
            else:
                candidates = f"{index} @@ %(tsq)s::tsquery AND ({recheck})"
            nkey = len(table.key)
            keys_sql = ", ".join(f"t.{_q(k)}" for k in table.key)
            assert table.holds is not None  # the catalog requires holds on searched tables
            rows = self.run(f"SELECT {keys_sql}, {table.holds.predicate()}, {table.holds.reasons()} "
                            f"FROM {_q(table.name)} t WHERE {candidates}", {**p, "tsq": tsq}).fetchall()
            if not rows:
                continue
            done = set(self.linked[table.name].keys) if table.name in self.linked else set()
            rows = [r for r in rows if tuple(r[:nkey]) not in done]   # linked rows: acted on (or held) above
            held = self.note_held(table, [(*r[:nkey], r[nkey + 1]) for r in rows if r[nkey]], nkey)
            free = [tuple(r[:nkey]) for r in rows if tuple(r[:nkey]) not in held]
            if not free:
                continue
            cond, kp = key_condition(table, tt, free)
            sets = self.set_exprs(table, mentions=True)
            if table.also_set and table.also_set.startswith("updated_at"):
                sets.append(table.also_set)
            out = self.run(f"UPDATE {_q(table.name)} t SET {', '.join(sets)} WHERE {cond} "
                           f"RETURNING {self.returning(table)}", {**kp, **p}).fetchall()
            self.collect_affected(table, out)
            self.touched.setdefault(table.name, []).extend(free)
            self.report.add("mentions", table.name, len(out))

    def unclassified_sweep(self, p: dict[str, Any]) -> None:
        """Tables and columns the catalog does not know yet: the old full scan, flagged in the proof."""
        unknown = catalog_mod.unclassified(self.conn, self.cat)
        by_table: dict[str, list[str]] = {}
        for item in unknown:
            t, _, c = item.partition(".")
            by_table.setdefault(t, []).append(c)
        types = catalog_mod.column_types(self.conn, by_table)
        for table, cols in by_table.items():
            tt = types.get(table, {})
            sets, texts = [], []
            for c in cols:
                typ = tt.get(c, "")
                expr = self.rewrite_expr(c, typ)
                if expr:
                    sets.append(f"{_q(c)} = {expr}")
                    texts.append(f"{self.text_of(c, typ)} ~* %(any_rx)s")
            self.report.unclassified.append(f"{table}: {', '.join(cols)} not in the catalog"
                                            + ("; scanned" if sets else ""))
            if not sets:
                continue
            where = " OR ".join(texts)
            if "organization_id" in tt:
                where = (f"({where}) AND NOT {holds.held_predicate('t.organization_id', '%(u)s::uuid')}")
            n = self.run(f"UPDATE {_q(table)} t SET {', '.join(sets)} WHERE {where}", p).rowcount or 0
            self.report.add("mentions", f"{table} (unclassified, scanned)", n)

    def models(self) -> None:
        """dbt relations: tables rewritten for the subject through their index, materialized views that
        hold a personal column refreshed, views left (they read the rewritten sources)."""
        rels = {name: (schema, kind) for schema, name, kind in self.run(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'v', 'm', 'p')",
            {"schemas": list(self.cat.dbt_schemas)}).fetchall()}
        for name, (schema, kind) in sorted(rels.items()):
            model = self.cat.models.get(name)
            relation = f"{schema}.{name}"
            if model is None:
                self.report.unclassified.append(f"{relation}: a relation the catalog does not classify")
                if kind == "m" and self.refresh_views:   # unknown but derived: rebuild to be safe
                    self.refresh(relation)
                continue
            personal = [c for c in model.columns.values() if c.personal]
            if not personal:
                continue
            if kind == "v":
                self.report.models.append({"relation": relation, "kind": "view", "action": "none needed",
                                           "note": "a view: it reads the pseudonymized sources, stores nothing"})
            elif kind == "m":
                if self.refresh_views:
                    self.refresh(relation)
                    self.report.models.append({"relation": relation, "kind": "materialized view",
                                               "action": "rebuilt"})
            else:
                self.rewrite_model(model, relation)

    def refresh(self, relation: str) -> None:
        self.report.views_to_rebuild.append(relation)
        schema, _, name = relation.partition(".")
        self.conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(schema, name)))
        self.report.views_rebuilt.append(relation)

    def rewrite_model(self, model: catalog_mod.Model, relation: str) -> None:
        params: dict[str, Any] = {}
        for table, column in model.locate_params():
            lk = self.linked.get(table)
            params[f"{table}__{column}"] = lk.column_values(column, self.acted.get(table, set())) if lk else []
        if model.locate and not all(params.values()):
            self.report.models.append({"relation": relation, "kind": "table", "action": "rewritten", "rows": 0})
            return
        schema, _, name = relation.partition(".")
        cols = [c for c in model.columns.values() if c.cls in ("reference", "identifier") and c.kind in (None, "user_id")]
        match = " OR ".join(f"t.{_q(c.name)} = %(u)s" for c in cols)
        sets = ", ".join(f"{_q(c.name)} = CASE WHEN t.{_q(c.name)} = %(u)s THEN %(pseudo_uuid)s "
                         f"ELSE t.{_q(c.name)} END" for c in cols)
        where = f"({model.locate}) AND ({match})" if model.locate else f"({match})"
        n = self.run(f"UPDATE {_q(schema)}.{_q(name)} t SET {sets} WHERE {where}", params).rowcount or 0
        self.report.models.append({"relation": relation, "kind": "table", "action": "rewritten", "rows": n,
                                   "note": "user references replaced by the pseudonymous uuid, whatever their age"})

    def cold_archives(self) -> None:
        spec = self.cat.cold_archives
        audit = spec.get("audit_logs")
        if audit:
            for part, lo, hi, loc in self.run(
                    "SELECT partition_name, min_occurred_at, max_occurred_at, location FROM audit_log_archives "
                    "WHERE status = 'dropped' AND row_count > 0 ORDER BY range_start").fetchall():
                self.report.cold_archives.append({
                    "archive": loc, "partition": part, "from": lo, "to": hi, "basis": self.cat.bases[audit["basis"]],
                    "retention_end": _plus_years(hi, audit["keep_years"]),
                    "note": "immutable; a restore must re-apply erasure_ledger pseudonyms before use"})
        retention = spec.get("retention")
        if retention:
            for loc, rtype, cutoff, finished in self.run(
                    "SELECT archive_location, resource_type, cutoff, finished_at FROM retention_runs "
                    "WHERE action = 'archive' AND status = 'succeeded' AND archive_location IS NOT NULL "
                    "AND organization_id = ANY(%(orgs)s::uuid[]) ORDER BY finished_at",
                    {"orgs": self.subject_orgs()}).fetchall():
                self.report.cold_archives.append({
                    "archive": loc, "resource_type": rtype, "to": cutoff, "basis": self.cat.bases[retention["basis"]],
                    "retention_end": _plus_years(cutoff, retention["keep_years"]),
                    "note": "retention archive: immutable; a restore must re-apply erasure_ledger pseudonyms"})

    def subject_orgs(self) -> list[uuid.UUID]:
        orgs: set[uuid.UUID] = set()
        for lk in self.linked.values():
            if "organization_id" in lk.values:
                orgs.update(lk.column_values("organization_id"))
        members = self.linked.get("organization_members")
        if members:
            orgs.update(k[0] for k in members.keys)
        return sorted(orgs, key=str)

    def erase(self) -> ErasureReport:
        started = last = time.monotonic()

        def lap(step: str) -> None:
            nonlocal last
            now = time.monotonic()
            self.report.timings[step] = round(now - last, 3)
            last = now

        self.report.kept_columns = [
            {"column": f"{t.name}.{c.name}", "basis": self.cat.bases[c.basis or t.basis or "proof"]}
            for t in self.cat.tables.values() for c in t.columns.values()
            if c.personal and c.erase == "keep" and t.name != "users"]
        self.linked = link(self.conn, self.cat, self.identity, self.types)
        pats = self.pats = self.patterns()
        linked_p = pats.params(with_ips=True)
        mention_p = pats.params(with_ips=False)
        lap("link")
        self.twin()
        for table in self.cat.tables.values():
            self.act(table, linked_p)
        lap("act")
        if self.allowed("sweep"):
            idents = list(self.subject.identifiers())
            tsq = scalar(self.conn, "SELECT erasure_query(VARIADIC %s::text[])::text", (idents,))
            self.mentions(catalog_mod.words_indexes(self.conn), tsq, mention_p)
            lap("mentions")
            self.unclassified_sweep(mention_p)
            lap("unclassified")
        if self.allowed("analytics"):
            self.models()
            lap("models")
        if self.allowed("files"):
            from auralink.compliance import files

            files.reach(self)
            lap("files")
        self.cold_archives()
        self.remove_files()
        lap("archives and file removal")
        self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    def remove_files(self) -> None:
        # Files last, still inside the transaction: if the commit fails the re-run finds them gone, harmlessly.
        for loc in dict.fromkeys(self.files_to_delete):
            try:
                removed = storage.remove(loc.removeprefix("file://"))
            except (OSError, ValueError, storage.StorageUnavailable) as exc:  # that file's own URI: this request's fault
                raise RuntimeError(f"could not delete a file of the subject: {exc.__class__.__name__}") from None
            self.report.files_deleted += removed
            if removed:
                self.report.files["deleted"].append(loc)


def _plus_years(when: Any, years: int) -> Any:
    if not isinstance(when, (dt.datetime, dt.date)):
        return None
    try:
        return when.replace(year=when.year + years)
    except ValueError:   # 29 February
        return when.replace(year=when.year + years, day=28)


def erase(conn: psycopg.Connection, subject: Subject, *, request_id: Any, organization_id: Any,
          categories: tuple[str, ...] = DEFAULT_SCOPE, refresh_views: bool = True,
          record_skip: Callable[[str, Any, str], None] | None = None) -> ErasureReport:
    """Erase ``subject`` inside the caller's transaction; returns the report (not yet stored)."""
    reason = holds.hold_reason(conn, organization_id, subject.user_id, "user", str(subject.user_id))
    if reason:
        if record_skip:
            record_skip("compliance_request", request_id, holds.skip_message(reason))
        raise ErasureBlocked(f"erasure blocked by legal hold: {reason}")
    return _Erasure(conn, catalog_mod.load(), subject, request_id, organization_id, categories, refresh_views,
                    record_skip).erase()


def scrub(text: str, subject: Subject, pseudo: str) -> str:
    """The subject's identifiers out of a text (the proof's last safety net; hold reasons may name them)."""
    values = sorted({v for v in (str(subject.user_id), subject.email, subject.full_name, subject.phone)
                     if v and len(v.strip()) >= 3}, key=len, reverse=True)
    if not values:
        return text
    rx = re.compile(r"(?<![\w])(" + "|".join(re.escape(v) for v in values) + r")(?![\w])", re.IGNORECASE)
    return rx.sub(pseudo, text)


def store_report(report: ErasureReport, subject: Subject | None = None) -> tuple[str, str]:
    location = storage.join(storage.export_root(), "erasure", f"{report.request_id}.json")
    text = to_json_text({"proof_of_erasure": report.__dict__})
    if subject is not None:
        text = scrub(text, subject, report.pseudonym)
    return location, storage.write_bytes(location, text.encode("utf-8"))


def summary(report: ErasureReport) -> dict[str, Any]:
    """What erasure_ledger keeps: counts, never identities."""
    return json.loads(to_json_text({"deleted": report.deleted, "pseudonymized": report.pseudonymized,
                                    "mentions": report.mentions, "held": len(report.held),
                                    "models": [(m["relation"], m["action"]) for m in report.models],
                                    "files_deleted": report.files_deleted,
                                    "files_rewritten": len(report.files["rewritten"]) + len(report.files["regenerated"]),
                                    "views_rebuilt": report.views_rebuilt, "catalog_version": report.catalog_version}))
