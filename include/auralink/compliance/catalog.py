"""The data catalog (``catalog.yaml`` beside this module): what every column of every table and dbt model
holds, how a table's rows are linked to a data subject, and what erasure does with them.

Erasure (:mod:`auralink.compliance.erasure`) and export (:mod:`auralink.compliance.subject`) are driven by
it; ``tests/compliance/test_catalog.py`` fails when a column of the migrated schema or of a built dbt model
is missing here, when the dbt YAML ``meta.privacy`` of a model column disagrees, or when a lookup a rule
needs has no index. :func:`load` validates the file and raises :class:`CatalogError` naming the entry.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import psycopg

from auralink.compliance import holds as holds_sql

CLASSES = ("identifier", "free_text", "reference", "record", "file", "none")
KINDS = ("user_id", "email", "name", "phone", "ip", "device", "location")
ERASE = ("pseudonym", "pseudonym_email", "pseudonym_uuid", "null", "delete", "rewrite", "keep", "tombstone")
ON_LINK = ("pseudonymize", "delete", "tombstone", "keep")
IDENTITIES = ("user_id", "email", "user_ref")
FILE_HANDLERS = ("audio", "exports", "report_outputs", "compliance_reports", "data_docs", "cold_archive", "proof")
# Where dbt builds the models (dbt_project.yml's +schema per folder; generate_schema_name uses them verbatim).
DBT_SCHEMAS = ("analytics_staging", "analytics_intermediate", "analytics", "analytics_reference")
_TEXT_KINDS = ("email", "name", "phone")
_PARAM = re.compile(r"%\((\w+?)__(\w+)\)s")


class CatalogError(ValueError):
    """The catalog file is inconsistent; the message names the table and column."""


@dataclass(frozen=True)
class Column:
    name: str
    cls: str
    kind: str | None = None
    erase: str = "keep"
    owner: tuple[str, ...] = ()
    basis: str | None = None
    category: str | None = None

    @property
    def personal(self) -> bool:
        return self.cls != "none"


@dataclass(frozen=True)
class Link:
    column: str
    identity: str | None = None            # how the column names the subject, or None with `source`
    source: tuple[str, str] | None = None  # (table, column): the values of that table's linked rows
    where: str | None = None               # extra SQL condition on alias t (%(u)s, %(email)s bound)
    action: str = "pseudonymize"


@dataclass(frozen=True)
class Holds:
    """The row's organization, user and resources, as legal_hold_applies() wants them (SQL on alias t)."""

    org: str | None = None
    user: str | None = None
    resources: tuple[tuple[str, str], ...] = ()

    def _calls(self, fn: str) -> list[str]:
        org, user = self.org or "NULL::uuid", self.user or "NULL::uuid"
        pairs = self.resources or (("NULL", "NULL"),)
        return [f"{fn}(({org})::uuid, ({user})::uuid, ({rt})::text, ({rid})::text)" for rt, rid in pairs]

    def predicate(self) -> str:
        """True when the row is under a hold: the one rule, once per resource the row belongs to."""
        return f"({holds_sql.ANY_ACTIVE_HOLD_SQL} AND ({' OR '.join(self._calls('legal_hold_applies'))}))"

    def reasons(self) -> str:
        calls = self._calls("legal_hold_reasons")
        return f"(SELECT string_agg(DISTINCT r, '; ') FROM unnest(ARRAY[{', '.join(calls)}]) r)"


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: dict[str, Column]
    category: str | None = None
    links: tuple[Link, ...] = ()
    on_link: str = "pseudonymize"
    basis: str | None = None
    holds: Holds | None = None
    also_set: str | None = None
    delete_as: str | None = None
    files: str | None = None

    def hunted(self) -> list[str]:
        """Columns that may mention people and are not themselves lookup keys: the words index covers
        exactly these (in this order), so mentions in rows not linked to the subject are found."""
        link_columns = {lk.column for lk in self.links if lk.identity}
        out = []
        for c in self.columns.values():
            if c.erase not in ("pseudonym", "pseudonym_email") or c.name in link_columns:
                continue
            if c.cls == "free_text" or (c.cls == "identifier" and c.kind in _TEXT_KINDS):
                out.append(c.name)
        return out

    def personal(self) -> list[Column]:
        return [c for c in self.columns.values() if c.personal]


@dataclass(frozen=True)
class Model:
    name: str
    columns: dict[str, Column]
    locate: str | None = None

    def locate_params(self) -> list[tuple[str, str]]:
        """(table, column) pairs whose linked values ``locate`` binds as %(table__column)s."""
        return _PARAM.findall(self.locate or "")


@dataclass(frozen=True)
class Catalog:
    tables: dict[str, Table]
    models: dict[str, Model]
    bases: dict[str, str]
    cold_archives: dict[str, dict[str, Any]]
    version: str
    dbt_schemas: tuple[str, ...] = DBT_SCHEMAS
    _order: tuple[str, ...] = field(default=())

    def basis(self, key: str | None) -> str | None:
        return self.bases.get(key) if key else None

    def link_order(self) -> list[Table]:
        """Linked tables, each after the tables its `from` rules read."""
        return [self.tables[n] for n in self._order]

    def needed_values(self) -> dict[str, set[str]]:
        """Per table, the columns whose linked values other rules or models read (``from``, ``locate``)."""
        need: dict[str, set[str]] = {}
        for t in self.tables.values():
            for lk in t.links:
                if lk.source:
                    need.setdefault(lk.source[0], set()).add(lk.source[1])
        for m in self.models.values():
            for table, column in m.locate_params():
                need.setdefault(table, set()).add(column)
        return need


def _column(table: str, name: str, spec: Any, bases: dict[str, str], *, model: bool = False) -> Column:
    where = f"{table}.{name}"
    if isinstance(spec, str):
        name_, _, kind_ = spec.partition(":")
        spec = {"class": name_, **({"kind": kind_} if kind_ else {})}
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: a class name or a mapping, not {spec!r}")
    unknown = set(spec) - {"class", "kind", "erase", "owner", "basis", "category", "note"}
    if unknown:
        raise CatalogError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    cls: Any = spec.get("class")
    kind: Any = spec.get("kind")
    if cls not in CLASSES:
        raise CatalogError(f"{where}: class {cls!r} is not one of {', '.join(CLASSES)}")
    if kind is not None and (kind not in KINDS or cls not in ("identifier", "reference")):
        raise CatalogError(f"{where}: kind {kind!r} (kinds are for identifiers and references: {', '.join(KINDS)})")
    if cls == "identifier" and kind is None:
        raise CatalogError(f"{where}: an identifier needs a kind ({', '.join(KINDS)})")
    owner = spec.get("owner") or ()
    owner = (owner,) if isinstance(owner, str) else tuple(owner)
    erase = spec.get("erase") or _default_erase(cls, kind)
    if erase not in ERASE:
        raise CatalogError(f"{where}: erase {erase!r} is not one of {', '.join(ERASE)}")
    if model:  # a model's rows are rewritten (or rebuilt) by the model step from the class alone
        return Column(name, cls, kind, erase, owner, basis=spec.get("basis"))
    if erase == "null" and not owner:
        raise CatalogError(f"{where}: erase null needs an owner (whose value it is)")
    basis = spec.get("basis")
    if ((erase == "keep" and cls != "none") or cls == "record") and not basis:
        raise CatalogError(f"{where}: kept personal data needs a basis")
    if basis is not None and basis not in bases:
        raise CatalogError(f"{where}: unknown basis {basis!r}")
    if cls == "file" and "erase" not in spec:
        raise CatalogError(f"{where}: a file column says what erasure does with the file (erase)")
    return Column(name, cls, kind, erase, owner, basis, spec.get("category"))


def _default_erase(cls: str, kind: str | None) -> str:
    if cls in ("reference",) or kind == "user_id":
        return "pseudonym_uuid"
    if cls == "identifier":
        return "null" if kind in ("ip", "device", "location") else "pseudonym"
    if cls == "free_text":
        return "pseudonym"
    return "keep"


def _holds(table: str, spec: Any) -> Holds | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"org", "user", "resources"}:
        raise CatalogError(f"{table}.holds: a mapping of org, user, resources")
    res = tuple((str(a), str(b)) for a, b in spec.get("resources") or ())
    return Holds(spec.get("org"), spec.get("user"), res)


def _links(table: str, specs: Any, columns: dict[str, Column], predicates: dict[str, str]) -> tuple[Link, ...]:
    out = []
    for spec in specs or ():
        col = spec.get("column")
        if col not in columns:
            raise CatalogError(f"{table}.link: unknown column {col!r}")
        source = None
        if "from" in spec:
            src_table, _, src_col = str(spec["from"]).partition(".")
            source = (src_table, src_col)
        identity = None if source else spec.get("identity", "user_id")
        if identity is not None and identity not in IDENTITIES:
            raise CatalogError(f"{table}.link {col}: identity {identity!r} is not one of {', '.join(IDENTITIES)}")
        where = spec.get("where")
        where = predicates.get(where, where) if where else None
        action = spec.get("action", "pseudonymize")
        if action not in ("pseudonymize", "delete"):
            raise CatalogError(f"{table}.link {col}: action {action!r}")
        out.append(Link(col, identity, source, where, action))
    return tuple(out)


def parse(text: str) -> Catalog:
    import yaml  # type: ignore[import-untyped]

    doc = yaml.safe_load(text)
    bases = dict(doc.get("bases") or {})
    predicates = dict(doc.get("predicates") or {})
    tables: dict[str, Table] = {}
    for name, spec in (doc.get("tables") or {}).items():
        unknown = set(spec) - {"key", "columns", "category", "link", "on_link", "basis", "holds", "also_set",
                               "delete_as", "files", "note"}
        if unknown:
            raise CatalogError(f"{name}: unknown keys {', '.join(sorted(unknown))}")
        columns = {c: _column(name, c, s, bases) for c, s in (spec.get("columns") or {}).items()}
        key = tuple(spec.get("key") or ())
        if not key or set(key) - set(columns):
            raise CatalogError(f"{name}: key {list(key)} must name columns of the table")
        links = _links(name, spec.get("link"), columns, predicates)
        on_link = spec.get("on_link", "pseudonymize")
        if on_link not in ON_LINK:
            raise CatalogError(f"{name}: on_link {on_link!r} is not one of {', '.join(ON_LINK)}")
        basis = spec.get("basis")
        if basis is not None and basis not in bases:
            raise CatalogError(f"{name}: unknown basis {basis!r}")
        if links and on_link in ("pseudonymize", "keep") and not basis \
                and not all(lk.action == "delete" for lk in links):
            raise CatalogError(f"{name}: linked rows that stay need a basis")
        files = spec.get("files")
        if files is not None and files not in FILE_HANDLERS:
            raise CatalogError(f"{name}: files handler {files!r} is not one of {', '.join(FILE_HANDLERS)}")
        if any(c.cls == "file" for c in columns.values()) and files is None:
            raise CatalogError(f"{name}: a table with file columns names its files handler")
        table = Table(name, key, columns, spec.get("category"), links, on_link, basis,
                      _holds(name, spec.get("holds")), spec.get("also_set"), spec.get("delete_as"), files)
        for c in columns.values():
            for o in c.owner:
                if o not in columns:
                    raise CatalogError(f"{name}.{c.name}: owner {o!r} is not a column")
        if (links or table.hunted()) and table.holds is None:
            raise CatalogError(f"{name}: linked or searched rows need `holds` (use {{}} where none can apply)")
        tables[name] = table
    for t in tables.values():
        for lk in t.links:
            if lk.source and (lk.source[0] not in tables or lk.source[1] not in tables[lk.source[0]].columns):
                raise CatalogError(f"{t.name}.link {lk.column}: unknown source {'.'.join(lk.source)}")
    models: dict[str, Model] = {}
    for name, spec in (doc.get("models") or {}).items():
        columns = {c: _column(name, c, s, bases, model=True) for c, s in (spec.get("columns") or {}).items()}
        model = Model(name, columns, spec.get("locate"))
        for src, col in model.locate_params():
            if src not in tables or col not in tables[src].columns:
                raise CatalogError(f"{name}.locate: unknown %({src}__{col})s")
        models[name] = model
    cold = dict(doc.get("cold_archives") or {})
    for kind, spec in cold.items():
        if spec.get("basis") not in bases or not isinstance(spec.get("keep_years"), int):
            raise CatalogError(f"cold_archives.{kind}: a basis and keep_years")
    return Catalog(tables, models, bases, cold, hashlib.sha256(text.encode()).hexdigest()[:16],
                   tuple(doc.get("dbt_schemas") or DBT_SCHEMAS), _topological(tables))


def _topological(tables: dict[str, Table]) -> tuple[str, ...]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise CatalogError(f"link cycle: {' -> '.join((*path, name))}")
        state[name] = 1
        for lk in tables[name].links:
            if lk.source and lk.source[0] != name:
                visit(lk.source[0], (*path, name))
        state[name] = 2
        order.append(name)

    for name, t in tables.items():
        if t.links:
            visit(name, ())
    return tuple(order)


def catalog_text() -> str:
    return resources.files("auralink.compliance").joinpath("catalog.yaml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def load() -> Catalog:
    return parse(catalog_text())


def column_types(conn: psycopg.Connection, tables: Iterable[str]) -> dict[str, dict[str, str]]:
    """table -> {column: format_type} for the given public tables (partitions left out)."""
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped", (list(tables),)).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, typ in rows:
        out.setdefault(table, {})[column] = typ
    return out


def words_indexes(conn: psycopg.Connection) -> dict[str, str]:
    """table -> the expression of its erasure_document() GIN index (a query using it verbatim uses it)."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(i.indexprs, i.indrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_am am ON am.oid = ic.relam WHERE am.amname = 'gin' AND c.relnamespace = 'public'::regnamespace "
        "AND NOT c.relispartition AND pg_get_expr(i.indexprs, i.indrelid) LIKE 'erasure_document(%%'").fetchall()
    return {table: expr for table, expr in rows}


def database_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every ordinary or partitioned table of schema public (partitions left out) -> its columns."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def unclassified(conn: psycopg.Connection, catalog: Catalog | None = None) -> list[str]:
    """``table.column`` of the database that the catalog does not classify (tables of schema public)."""
    catalog = catalog or load()
    out = []
    for table, cols in database_columns(conn).items():
        known = catalog.tables.get(table)
        out += [f"{table}.{c}" for c in cols if known is None or c not in known.columns]
    return out
