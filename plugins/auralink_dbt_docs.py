"""The dbt docs site in the Airflow UI (Browse -> dbt Docs, at /plugin/dbt-docs): Cosmos's plugin serves the
files; this one gives its page a route inside the UI. Logic in auralink.orchestration.dbt_docs."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from auralink.orchestration import dbt_docs


class AuraLinkDbtDocsPlugin(AirflowPlugin):
    name = "auralink_dbt_docs"
    external_views = dbt_docs.external_views()
