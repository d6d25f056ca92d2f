"""The nightly DAG's deadline: a night still unfinished by ``AURALINK_NIGHTLY_DEADLINE`` (UTC, ``HH:MM``,
default 08:00; ``off`` for none) alerts the on-call list, over the same channels as send_alerts.

Airflow 3's ``DeadlineAlert`` calls :func:`night_unfinished` in the triggerer when a run has not finished
that long after it was queued (``DAGRUN_QUEUED_AT``: a scheduled night is queued at its trigger time, 02:00,
so the deadline falls at the configured hour; a backfill of past nights gets the same span from when it
was queued, instead of alerting at once for a logical date long past)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from auralink import config

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = "08:00"


class DeadlineConfigError(ValueError):
    pass


def deadline_after_trigger(schedule_cron: str) -> dt.timedelta | None:
    """How long after the cron's daily trigger time the configured deadline falls (None: no deadline)."""
    setting = (config.env("AURALINK_NIGHTLY_DEADLINE") or DEFAULT_DEADLINE).strip().lower()
    if setting in ("off", "none", "no"):
        return None
    try:
        hour, minute = (int(p) for p in setting.split(":"))
        deadline = dt.timedelta(hours=hour, minutes=minute)
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise DeadlineConfigError(f"AURALINK_NIGHTLY_DEADLINE must be HH:MM (UTC) or off, not {setting!r}") from None
    fields = schedule_cron.split()
    trigger = dt.timedelta(hours=int(fields[1]), minutes=int(fields[0]))
    span = (deadline - trigger) % dt.timedelta(days=1)
    return span or dt.timedelta(days=1)


def _alert(context: dict[str, Any]) -> Any:
    from auralink.alerts.channels import Alert, link

    run = (context or {}).get("dag_run") or {}
    dag_id = str(run.get("dag_id", "nightly"))
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "?")
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time")
    base = config.env("AIRFLOW__API__BASE_URL")
    url = f"{base.rstrip('/')}/dags/{dag_id}/runs/{run_id}" if base else link(f"airflow/dags/{dag_id}/runs/{run_id}")
    return Alert(key=f"night_unfinished:{dag_id}:{run_id}", kind="night_unfinished", severity="high",
                 title=f"{dag_id} run {run_id} is still unfinished at its deadline", link=url,
                 facts={"dag_id": dag_id, "run_id": run_id, "logical_date": str(run.get("logical_date")),
                        "deadline": str(deadline)})


def send(context: dict[str, Any]) -> dict[str, Any]:
    """Deliver the alert once per channel (recorded in alert_deliveries when the database answers)."""
    from auralink.alerts import channels, delivery
    from auralink.db.connection import connect
    from auralink.orchestration.connections import project_database_url

    alert = _alert(context)
    configured = channels.configured()
    with connect(project_database_url(), autocommit=True, application_name="auralink:deadline") as conn:
        outcome = delivery.deliver(conn, [alert], configured)
    return {"alert": alert.key, "sent": len(outcome.sent), "failed": len(outcome.failed)}


async def night_unfinished(context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """The DeadlineAlert callback (runs in the triggerer's event loop: the delivery goes to a thread)."""
    result = await asyncio.to_thread(send, context or {})
    log.warning("deadline missed: %s", result)
    return result
