"""analytics_published: scheduled on the analytics Assets; records which night each table now holds."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag
from auralink.orchestration import airflow_dags, airflow_support

INTRO = """
### analytics_published (on the analytics Assets)

Runs when the nightly quality gate `check_analytics_quality` has announced every analytics table
(Airflow Assets `postgres://<namespace>/<database>/<schema>/<table>`, the OpenLineage names of the same
tables): a gate that fails announces nothing, so this never runs on bad marts. Its task records, per
table, the night the Asset event names in `analytics_publications` (what dashboards show as "data as of").
"""


@dag(
    dag_id="analytics_published",
    schedule=airflow_dags.published_assets(),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(retries=2, timeout_minutes=10),
    doc_md=INTRO,
    tags=["analytics", "assets"],
)
def analytics_published():
    airflow_dags.publication_task()


analytics_published()
