"""dbt docs: every mart column described, every model's keys tested, the site generated after the night's
build with the database's catalog (the dbt_docs job), and without a database for the image build."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from auralink.analytics import dbt_runner

MART_SCHEMA = "analytics"


def _manifest() -> dict:
    return json.loads(dbt_runner.ensure_manifest().read_text())


def _models(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def _relation_columns(url: str, schema: str, name: str) -> list[str]:
    """The columns the relation has in the database (materialized views included: pg_attribute)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [c for (c,) in conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND r.relname = %s "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (schema, name)).fetchall()]


def test_every_mart_column_has_a_description(built_analytics_url):
    url, _ = built_analytics_url
    marts = {name: m for name, m in _models(_manifest()).items() if m["schema"] == MART_SCHEMA}
    assert set(marts) == set(dbt_runner.ANALYTICS_VIEWS)
    missing = []
    for name, node in sorted(marts.items()):
        built = _relation_columns(url, MART_SCHEMA, name)
        assert built, f"{MART_SCHEMA}.{name} was not built"
        described = {c for c, spec in node["columns"].items() if (spec.get("description") or "").strip()}
        missing += [f"{name}.{c}" for c in built if c not in described]
        assert node["description"].strip(), name
    assert not missing, "mart columns without a description (models/marts/_marts.yml): " + ", ".join(missing)


def test_every_model_has_data_tests_on_its_keys():
    manifest = _manifest()
    tested: dict[str, set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("test_metadata"):
            continue
        kind = node["test_metadata"]["name"]
        for parent in node["depends_on"]["nodes"][-1:] if kind == "relationships" else node["depends_on"]["nodes"]:
            tested.setdefault(parent, set()).add(kind)
    key_kinds = {"unique", "dbt_utils_free_unique_combination"}
    untested = [name for name, m in _models(manifest).items() if not (tested.get(m["unique_id"], set()) & key_kinds)]
    assert not untested, f"models without a key test (unique or unique combination): {untested}"


def test_costly_key_tests_read_the_nights_window_only():
    """Tests on whole-history tables carry a where: on the window (macros/get_where_subquery.sql)."""
    manifest = _manifest()
    big = {"stg_calls", "stg_call_participants", "stg_call_quality_samples", "stg_ai_usage", "stg_usage_records",
           "int_call_quality_samples_scored", "int_call_participant_quality", "int_ai_usage_priced",
           "fct_call_quality", "fct_call_participant_quality"}
    by_name = {m["unique_id"]: name for name, m in _models(manifest).items()}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata"):
            model = by_name.get(node.get("attached_node") or "")
            if model in big and node["test_metadata"]["name"] in ("unique", "not_null", "relationships"):
                assert "__window_start" in (node["config"].get("where") or ""), (model, node["name"])


def test_docs_after_the_build_have_the_real_catalog(built_analytics_url, tmp_path, monkeypatch):
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval

    url, _ = built_analytics_url
    monkeypatch.setenv("AURALINK_DBT_DOCS_DIR", str(tmp_path / "docs"))
    stats = run_job("dbt_docs", url=url, interval=DataInterval.for_day(__import__("datetime").date(2026, 11, 20)))
    assert stats["status"] == "succeeded" and stats["empty_catalog"] is False, stats
    site = tmp_path / "docs"
    catalog = json.loads((site / "catalog.json").read_text())
    node = catalog["nodes"]["model.auralink.daily_usage_summary"]
    assert node["metadata"]["schema"] == "analytics" and "call_minutes" in node["columns"]
    for name in dbt_runner.DOCS_FILES:
        assert (site / name).stat().st_size > 1000, name
    assert not list(site.glob(".generating-*"))  # the staging folder is gone


def test_docs_without_a_database_for_the_image_build(tmp_path):
    """What the Dockerfile runs: no database reachable, the site still has every model and its lineage."""
    env = {"AURALINK_DBT_DOCS_DIR": str(tmp_path / "docs"), "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "auralink.cli", "analytics", "docs", "--generate", "--empty-catalog"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    site = tmp_path / "docs"
    manifest = json.loads((site / "manifest.json").read_text())
    assert "model.auralink.organization_analytics_summary" in manifest["nodes"]
    assert json.loads((site / "catalog.json").read_text())["nodes"] == {}
    printed = subprocess.run([sys.executable, "-m", "auralink.cli", "analytics", "docs", "--url"], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert printed.returncode == 0 and printed.stdout.strip() == (site / "static_index.html").as_uri()


@pytest.mark.parametrize("args", [["analytics", "docs"]])
def test_no_site_yet_is_one_line(tmp_path, args, monkeypatch, capsys):
    from auralink.cli import main

    monkeypatch.setenv("AURALINK_DBT_DOCS_DIR", str(tmp_path / "empty"))
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("auralink: error: no dbt docs in")
