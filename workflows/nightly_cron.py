"""``nightly`` (CronWorkflow): runs the ``nightly`` WorkflowTemplate at 02:00 UTC. Ships suspended.

One scheduler per deployment: Airflow's ``nightly`` DAG runs the same graph at the same time, so this
CronWorkflow is generated with ``suspend: true``. To move the night from Airflow to Argo, pause the DAG
(``airflow dags pause nightly``) and resume this (``argo cron resume nightly``); the README says more.
Each run's workflow is created at its scheduled time, which is how its steps know the night (the UTC day
before). concurrencyPolicy Forbid: a night that overruns is never joined by the next one.
startingDeadlineSeconds: a run missed (controller down) starts late within the hour, else waits for the
next night; the jobs are claim-based or windowed, so the next night picks up everything left.
"""

from __future__ import annotations

from auralink.jobs.graph import PIPELINES
from hera.workflows import CronWorkflow
from hera.workflows.models import WorkflowTemplateRef

from workflows import nightly
from workflows.common import Settings

NAME = "nightly-cron"
CRON_NAME = "nightly"
DESCRIPTION = "Runs the nightly WorkflowTemplate at 02:00 UTC (suspended: Airflow schedules the night by default)."
STARTING_DEADLINE_SECONDS = 3600


def build(settings: Settings) -> CronWorkflow:
    return CronWorkflow(
        name=CRON_NAME,
        annotations={"workflows.argoproj.io/description": DESCRIPTION},
        labels={"app.kubernetes.io/part-of": "auralink", "auralink.io/workflow": CRON_NAME},
        schedules=[PIPELINES[nightly.PIPELINE].schedule],
        timezone="UTC",
        cron_suspend=True,
        concurrency_policy="Forbid",
        starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=7,
        workflow_template_ref=WorkflowTemplateRef(name=nightly.NAME),
    )
