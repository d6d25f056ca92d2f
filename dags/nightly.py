"""nightly: every nightly job of the job graph, as one task (or task group) per job, for one UTC day."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag
from auralink.orchestration import airflow_dags, airflow_support

INTRO = """
### nightly (daily 02:00 UTC)

Rendered from the job registry (`auralink.jobs`): each job declares what it runs after, and this DAG,
the Argo `nightly` workflow and `auralink pipeline run` are built from that one declaration.

**The logical date drives everything.** A run triggered at D+1 02:00 (its logical date) processes the UTC
day D, `[D 00:00, D+1 00:00)`. Clear a past run to recompute exactly that day; backfill a range with
`airflow backfill create --dag-id nightly --from-date D1 --to-date D2` (the dates are logical dates, so
they process the days before them). Jobs marked *current night only* skip in backfills and past runs.

`dbt_build` is a task group with one task per dbt node (Cosmos, from `dbt_project/target/manifest.json`);
`transcribe_recordings` maps one task per batch over the pool `recording_transcription`. The analytics
Assets are announced by `check_analytics_quality`, so nobody is told about marts that failed their gate.
Job parameters are Params, one section per job. Runbooks: README.md, docs/.
"""


@dag(
    dag_id="nightly",
    schedule=airflow_dags.schedule("nightly"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(),
    params=airflow_dags.params("nightly"),
    user_defined_macros=airflow_dags.MACROS,
    deadline=airflow_dags.night_deadline("nightly"),  # AURALINK_NIGHTLY_DEADLINE: unfinished by then alerts
    doc_md=airflow_dags.doc_md("nightly", INTRO),
    tags=["nightly", "analytics", "dbt", "billing", "compliance"],
)
def nightly():
    airflow_dags.render("nightly")


nightly()
