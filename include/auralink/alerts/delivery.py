"""Send alerts over channels once: ``alert_deliveries`` (alert key, channel) says what was sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg

from auralink.alerts.channels import Alert, Channel

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    sent: list[tuple[str, str]] = field(default_factory=list)      # (alert key, channel)
    already_sent: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (alert key, channel, error)


def deliver(conn: psycopg.Connection, alerts: Sequence[Alert], channels: Sequence[Channel], *,
            job_run_id: int | None = None, on_sent: Callable[[Alert, list[str]], None] | None = None) -> Outcome:
    """Send each alert over each channel it was not sent over yet; record every attempt (autocommit
    connection: a delivery is recorded as soon as it happened, whatever fails later)."""
    outcome = Outcome()
    if not alerts or not channels:
        return outcome
    names = [c.name for c in channels]
    sent_before = {(k, c) for k, c in conn.execute(
        "SELECT alert_key, channel FROM alert_deliveries WHERE status = 'sent' AND alert_key = ANY(%s) "
        "AND channel = ANY(%s)", ([a.key for a in alerts], names)).fetchall()}
    for alert in alerts:
        went_over = []
        for channel in channels:
            if (alert.key, channel.name) in sent_before:
                outcome.already_sent += 1
                continue
            try:
                channel.send(alert)
            except Exception as exc:  # noqa: BLE001 - one channel's failure must not stop the others
                error = f"{exc.__class__.__name__}: {exc}"[:1000]
                log.warning("alert %s over %s failed: %s", alert.key, channel.name, error)
                _record(conn, alert, channel.name, "failed", error, job_run_id)
                outcome.failed.append((alert.key, channel.name, error))
                continue
            _record(conn, alert, channel.name, "sent", None, job_run_id)
            outcome.sent.append((alert.key, channel.name))
            went_over.append(channel.name)
        if went_over and on_sent:
            on_sent(alert, went_over)
    return outcome


def _record(conn: psycopg.Connection, alert: Alert, channel: str, status: str, error: str | None,
            job_run_id: int | None) -> None:
    conn.execute(
        """INSERT INTO alert_deliveries (alert_key, channel, kind, severity, status, error, job_run_id, sent_at)
           VALUES (%(key)s, %(channel)s, %(kind)s, %(severity)s, %(status)s, %(error)s, %(run)s,
                   CASE WHEN %(status)s = 'sent' THEN now() END)
           ON CONFLICT (alert_key, channel) DO UPDATE
           SET status = EXCLUDED.status, error = EXCLUDED.error, job_run_id = EXCLUDED.job_run_id,
               attempts = alert_deliveries.attempts + 1, sent_at = EXCLUDED.sent_at
           WHERE alert_deliveries.status <> 'sent'""",
        {"key": alert.key, "channel": channel, "kind": alert.kind, "severity": alert.severity, "status": status,
         "error": error, "run": job_run_id})
