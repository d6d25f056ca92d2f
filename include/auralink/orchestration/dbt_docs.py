"""The dbt docs site inside the Airflow UI.

Cosmos's Airflow 3 plugin serves a dbt docs site under ``/cosmos/<slug>/`` for every project in
``[cosmos] dbt_docs_projects`` (JSON: slug -> ``{"dir", "conn_id", "index", "name"}``); the nightly job
``dbt_docs`` writes the site to ``AURALINK_DBT_DOCS_DIR``. Cosmos registers its menu entry without a
``url_route``, which Airflow 3.3 leaves out of the UI, so ``plugins/auralink_dbt_docs.py`` adds one per
project: the UI then shows the site in its own frame at ``/plugin/dbt-docs`` (Browse -> dbt Docs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SLUG = "auralink"
URL_ROUTE = "dbt-docs"


def projects_setting(docs_dir: Path | str) -> str:
    """The value of ``AIRFLOW__COSMOS__DBT_DOCS_PROJECTS`` for the project's site in ``docs_dir``."""
    return json.dumps({SLUG: {"dir": str(docs_dir), "index": "index.html", "name": "dbt Docs"}})


def external_views() -> list[dict[str, Any]]:
    """One Browse menu entry per configured dbt docs project, shown inside the Airflow UI."""
    from airflow.configuration import conf

    raw = conf.get("cosmos", "dbt_docs_projects", fallback=None)
    try:
        projects = json.loads(raw) if raw else {}
    except ValueError:
        return []  # Cosmos's plugin reports the bad JSON itself
    base = conf.get("api", "base_url", fallback="") or ""
    base_path = base.split("://", 1)[-1].partition("/")[2].rstrip("/") if "://" in base else base.rstrip("/")
    prefix = f"/{base_path}" if base_path else ""
    views = []
    for slug, project in projects.items() if isinstance(projects, dict) else ():
        if not isinstance(project, dict):
            continue
        views.append({"name": project.get("name") or f"dbt Docs ({slug})", "category": "Browse",
                      "href": f"{prefix}/cosmos/{slug}/dbt_docs_index.html",
                      "url_route": URL_ROUTE if slug == SLUG else f"{URL_ROUTE}-{slug}"})
    return views
