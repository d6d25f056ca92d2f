"""Which rows of which tables belong to a data subject, found the way Fides does: from the subject's
identity (user id, e-mail) through the catalog's indexed identity columns, then along the references
between tables (a call the subject took part in, that call's transcripts). Nothing is scanned: every
rule is an index lookup (tests/compliance/test_catalog.py checks each plan), so the cost follows the
subject's data, not the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from auralink.compliance.catalog import Catalog, Link, Table


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str

    @property
    def refs(self) -> list[str]:
        """How casbin rules name a user: the id, ``user:<id>`` or the e-mail."""
        return [str(self.user_id), f"user:{self.user_id}", self.email]

    def params(self) -> dict[str, Any]:
        return {"u": self.user_id, "u_text": str(self.user_id), "email": self.email.lower(), "user_refs": self.refs}


@dataclass
class Linked:
    """The subject's rows of one table: their keys, which of them a rule deletes, and the values of the
    columns other rules read (``values[column]``, one per key, in key order)."""

    table: Table
    keys: list[tuple] = field(default_factory=list)
    delete: set[tuple] = field(default_factory=set)
    values: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def column_values(self, column: str, keys: set[tuple] | None = None) -> list[Any]:
        vals = self.values.get(column, [])
        if keys is None:
            return [v for v in dict.fromkeys(vals) if v is not None]
        return [v for k, v in dict.fromkeys(zip(self.keys, vals)) if k in keys and v is not None]


def key_condition(table: Table, types: dict[str, str], keys: list[tuple], prefix: str = "k") -> tuple[str, dict[str, Any]]:
    """SQL (alias t) selecting exactly ``keys``, with its parameters; the first key column goes through
    ``= ANY`` so the primary key index (on every partition) is used."""
    params: dict[str, Any] = {}
    for i, col in enumerate(table.key):
        params[f"{prefix}{i}"] = [k[i] for k in keys]
    first = f"t.{_q(table.key[0])} = ANY(%({prefix}0)s::{types[table.key[0]]}[])"
    if len(table.key) == 1:
        return first, params
    cols = ", ".join(f"t.{_q(c)}" for c in table.key)
    arrays = ", ".join(f"%({prefix}{i})s::{types[c]}[]" for i, c in enumerate(table.key))
    return f"{first} AND ({cols}) IN (SELECT * FROM unnest({arrays}))", params


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rule_sql(rule: Link, types: dict[str, str], linked: dict[str, Linked]) -> tuple[str, dict[str, Any]] | None:
    """The condition (alias t) one link rule selects; None when its source has no rows."""
    col = f"t.{_q(rule.column)}"
    params: dict[str, Any] = {}
    if rule.source:
        parent = linked.get(rule.source[0])
        values = parent.column_values(rule.source[1]) if parent else []
        if not values:
            return None
        params["src"] = values
        cond = f"{col} = ANY(%(src)s::{types[rule.column]}[])"
    elif rule.identity == "email":
        cond = f"lower({col}) = %(email)s"
    elif rule.identity == "user_ref":
        cond = f"{col} = ANY(%(user_refs)s::text[])"
    elif types[rule.column] == "uuid":
        cond = f"{col} = %(u)s"
    else:
        cond = f"{col} = %(u_text)s"
    if rule.where:
        cond = f"{cond} AND ({rule.where})"
    return cond, params


def link(conn: psycopg.Connection, catalog: Catalog, identity: Identity, types: dict[str, dict[str, str]],
         only: set[str] | None = None) -> dict[str, Linked]:
    """The subject's rows of every linked table (or of ``only`` and what they depend on)."""
    need = catalog.needed_values()
    base = identity.params()
    linked: dict[str, Linked] = {}
    wanted = _with_sources(catalog, only) if only is not None else None
    for table in catalog.link_order():
        if wanted is not None and table.name not in wanted:
            continue
        tt = types.get(table.name)
        if not tt:
            continue  # not in this database (yet)
        value_cols = sorted(need.get(table.name, ()))
        select = ", ".join(f"t.{_q(c)}" for c in (*table.key, *value_cols))
        found: dict[tuple, tuple] = {}
        deleted: set[tuple] = set()
        for rule in table.links:
            cond = rule_sql(rule, tt, linked)
            if cond is None:
                continue
            sql, params = cond
            nkey = len(table.key)
            for row in conn.execute(f"SELECT {select} FROM {_q(table.name)} t WHERE {sql}",
                                    {**base, **params}, prepare=False):
                key = tuple(row[:nkey])
                found.setdefault(key, tuple(row[nkey:]))
                if rule.action == "delete":
                    deleted.add(key)
        keys = list(found)
        values = {c: [found[k][i] for k in keys] for i, c in enumerate(value_cols)}
        linked[table.name] = Linked(table, keys, deleted, values)
    return linked


def _with_sources(catalog: Catalog, names: set[str]) -> set[str]:
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in catalog.tables:
            continue
        out.add(name)
        todo += [lk.source[0] for lk in catalog.tables[name].links if lk.source]
    return out
