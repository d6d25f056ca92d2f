"""The nightly alert job: tell the on-call list what the night's jobs found, once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from auralink.jobs import JobContext, job


@job("send_alerts", stage=65, after=("detect_security_events", "flag_overdue_compliance_requests"),
     current_only=True, produces=("public.alert_deliveries",))
def send_alerts(ctx: JobContext, min_severity: Literal["medium", "high", "critical"] = "high",
                lookback_days: Annotated[int, Field(ge=1, le=90)] = 7,
                due_soon_days: Annotated[int, Field(ge=0, le=30)] = 3) -> dict[str, Any]:
    """Alert the on-call list (e-mail, webhooks) about new high/critical security events and compliance
    requests overdue or due within 3 days; each alert once per channel, never personal data."""
    from auralink.alerts import channels as ch
    from auralink.alerts import delivery, sources

    channels = ch.configured()
    with ctx.connect(autocommit=True) as conn:
        alerts = [*sources.security_alerts(conn, until=ctx.now, since=ctx.now - dt.timedelta(days=lookback_days),
                                           min_severity=min_severity),
                  *sources.compliance_alerts(conn, now=ctx.now, due_soon_days=due_soon_days)]
        if not channels:
            ctx.log.warning("%d alert(s) and no channel configured (AURALINK_ALERT_EMAILS, "
                            "AURALINK_ALERT_WEBHOOK_CONN_IDS): nothing sent", len(alerts))
        outcome = delivery.deliver(
            conn, alerts, channels, job_run_id=ctx.run_id,
            on_sent=lambda alert, names: ctx.record_item("alert", alert.key, "succeeded", f"sent over {', '.join(names)}"))
    for key, channel, error in outcome.failed:
        ctx.record_item("alert", f"{key}@{channel}", "failed", error)
    kinds: dict[str, int] = {}
    for alert in alerts:
        kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
    return {"alerts": len(alerts), "by_kind": kinds, "channels": [c.name for c in channels],
            "sent": len(outcome.sent), "already_sent": outcome.already_sent, "failed": len(outcome.failed)}
