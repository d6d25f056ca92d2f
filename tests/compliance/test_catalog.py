"""The data catalog (include/auralink/compliance/catalog.yaml) classifies every column of the migrated schema
and of every dbt model; the dbt YAML carries the same classes; every lookup its rules make has an index
(with sequential scans disabled, no plan reads a table whole), and the words indexes cover exactly the
columns it marks as mentioning people."""

from __future__ import annotations

import re

import pytest
from auralink.compliance import catalog as catalog_mod
from auralink.compliance import dbt_meta
from auralink.compliance.linking import Identity, rule_sql


@pytest.fixture(scope="module")
def cat() -> catalog_mod.Catalog:
    return catalog_mod.load()


def test_every_column_of_the_migrated_schema_is_classified(db, cat):
    missing = catalog_mod.unclassified(db, cat)
    assert missing == [], ("classify these columns in include/auralink/compliance/catalog.yaml (what does "
                           f"erasure do with them?): {', '.join(missing)}")
    stale = [f"{t}.{c}" for t, spec in cat.tables.items() for c in spec.columns
             if c not in catalog_mod.database_columns(db).get(t, [])]
    assert stale == [], f"catalog entries with no such column in the schema: {', '.join(stale)}"


@pytest.fixture(scope="module")
def built_dbt(migrated_template):
    """A migrated database with the dbt project built on it (empty tables build every model)."""
    import datetime as dt

    import psycopg
    from auralink.analytics.dbt_runner import build
    from auralink.jobs.interval import DataInterval

    from tests.conftest import _url_for, create_database, drop_database

    name = create_database(template=migrated_template)
    url = _url_for(name)
    build(url=url, interval=DataInterval.for_day(dt.date(2026, 11, 20)))
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn
    drop_database(name)


def test_every_column_of_every_dbt_model_and_seed_is_classified(built_dbt, cat):
    rows = built_dbt.execute(
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm')", (list(cat.dbt_schemas),)).fetchall()
    built: dict[str, set[str]] = {}
    for rel, col in rows:
        built.setdefault(rel, set()).add(col)
    missing = sorted(f"{rel}.{col}" for rel, cols in built.items() for col in cols
                     if col not in getattr(cat.models.get(rel), "columns", {}))
    assert missing == [], f"classify these dbt columns in catalog.yaml (models:): {', '.join(missing)}"
    stale = sorted(f"{m}.{c}" for m, spec in cat.models.items() for c in spec.columns if c not in built.get(m, set()))
    assert stale == [], f"catalog model columns that dbt does not build: {', '.join(stale)}"


def test_dbt_yaml_meta_says_what_the_catalog_says():
    problems = dbt_meta.check()
    assert problems == [], ("the dbt YAML meta.privacy and catalog.yaml disagree (`python -m "
                            "auralink.compliance.dbt_meta --write` adds what is missing): " + "; ".join(problems))


def test_dbt_meta_sync_only_inserts_lines(tmp_path, cat):
    """The writer never reformats or reorders a file it touches: every line it leaves is an original one."""
    import shutil

    from auralink.analytics.dbt_runner import project_dir

    for sub in ("models", "seeds"):
        shutil.copytree(project_dir() / sub, tmp_path / sub)
    target = tmp_path / "models" / "intermediate" / "_intermediate.yml"
    original = target.read_text()
    stripped = re.sub(r"\n\s*meta: \{privacy: \w+\}", "", original)
    stripped = re.sub(r"\n\s*- \{name: \w+, meta: \{privacy: \w+\}\}", "", stripped)
    target.write_text(stripped)
    assert dbt_meta.check(tmp_path)
    dbt_meta.sync(tmp_path, cat)
    assert dbt_meta.check(tmp_path) == []
    new = target.read_text().splitlines()
    kept = [line for line in new if "meta: {privacy:" not in line]
    assert kept == stripped.splitlines()


def test_words_indexes_cover_exactly_the_columns_that_may_mention_people(db, cat):
    """A migration adds a free-text column's words index together with its catalog entry, or this fails."""
    rows = db.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attname) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjsubid > 0 "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition "
        "AND pg_get_expr(i.indexprs, i.indrelid) LIKE 'erasure_document(%%' GROUP BY 1").fetchall()
    indexed = {t: sorted(cols) for t, cols in rows}
    wanted = {t.name: sorted(t.hunted()) for t in cat.tables.values() if t.hunted()}
    assert indexed == wanted


def _plans_read_whole(conn, query: str, params: dict, table: str) -> list[str]:
    conn.execute("SET enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, params).fetchall())
    finally:
        conn.execute("RESET enable_seqscan")
    # With sequential scans off, a Seq Scan left in the plan means no index can serve it (any table).
    return [line.strip() for line in plan.splitlines() if "Seq Scan" in line]


class _Values:
    def __init__(self, values):
        self.values = values

    def column_values(self, column):
        return self.values


def test_every_link_rule_is_an_index_lookup(db, cat):
    """What makes erasure's cost follow the subject: no link rule can read its table whole."""
    import uuid

    ident = Identity(uuid.uuid4(), "someone@example.com")
    types = catalog_mod.column_types(db, cat.tables)
    scans = []
    for table in cat.link_order():
        for rule in table.links:
            value = uuid.uuid4() if types[table.name][rule.column] == "uuid" else 1
            fake = {rule.source[0]: _Values([value])} if rule.source else {}
            sql, params = rule_sql(rule, types[table.name], fake)
            query = f"SELECT 1 FROM {table.name} t WHERE {sql}"
            scans += [f"{table.name}.{rule.column}: {s}" for s in
                      _plans_read_whole(db, query, {**ident.params(), **params}, table.name)]
    assert scans == []


def test_model_locates_and_mention_searches_use_indexes(built_dbt, cat):
    import uuid

    for name, model in cat.models.items():
        if not model.locate:
            continue
        rel = built_dbt.execute("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE c.relname = %s AND n.nspname = ANY(%s)", (name, list(cat.dbt_schemas))).fetchone()
        params = {f"{t}__{c}": [uuid.uuid4() if c.endswith("id") and t == "calls" else 1]
                  for t, c in model.locate_params()}
        query = f'SELECT 1 FROM "{rel[0]}"."{name}" t WHERE ({model.locate}) AND t.user_id = %(u)s'
        assert _plans_read_whole(built_dbt, query, {**params, "u": uuid.uuid4()}, name) == [], name
    words = catalog_mod.words_indexes(built_dbt)
    tsq = built_dbt.execute("SELECT erasure_query('Alice Liddell', 'alice@example.com')::text").fetchone()[0]
    for table, expr in words.items():
        query = f"SELECT 1 FROM {table} t WHERE {expr} @@ %(q)s::tsquery"
        assert _plans_read_whole(built_dbt, query, {"q": tsq}, table) == [], table


def test_a_bad_catalog_entry_is_refused_with_its_name():
    text = catalog_mod.catalog_text()
    with pytest.raises(catalog_mod.CatalogError, match=r"transcriptions\.text: class 'freetext'"):
        catalog_mod.parse(text.replace("text: free_text, redacted_text", "text: freetext, redacted_text", 1))
    with pytest.raises(catalog_mod.CatalogError, match="needs a basis"):
        catalog_mod.parse(text.replace("pseudonym: {class: record, basis: proof}", "pseudonym: record", 1))


def test_the_cli_names_an_unclassified_column_in_one_line(db, capsys):
    from auralink.cli import main

    assert main(["compliance", "catalog"]) == 0
    assert "every column classified" in capsys.readouterr().out
    db.execute("ALTER TABLE calls ADD COLUMN host_notes text")
    assert main(["compliance", "catalog"]) == 3
    captured = capsys.readouterr()
    assert "unclassified column calls.host_notes" in captured.out
    assert captured.err.startswith("auralink: error: 1 catalog problem(s)") and captured.err.count("\n") == 1
