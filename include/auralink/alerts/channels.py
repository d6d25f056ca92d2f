"""Where alerts go: connections, resolved the Airflow way (UI, ``AIRFLOW_CONN_<ID>`` as URI or JSON, a
secrets backend), so Airflow, Argo steps and the CLI all use the same definitions.

- E-mail: the SMTP connection ``AURALINK_ALERT_SMTP_CONN_ID`` (default ``smtp_default``) through the SMTP
  provider's ``SmtpNotifier``, to ``AURALINK_ALERT_EMAILS`` (comma separated; no recipients, no e-mail).
- Webhooks: the connections named in ``AURALINK_ALERT_WEBHOOK_CONN_IDS`` (comma separated). The URL is the
  connection's host when it is a whole URL (``https://hooks.slack.com/services/T/B/X``), else built from
  schema, host, port and the extra ``endpoint``; a ``slackwebhook`` connection's password is the path after
  its host. The extra ``format``: ``slack`` posts ``{"text": ...}`` (an incoming webhook), ``json`` (default)
  adds the alert's fields under ``"alert"``; ``headers`` adds request headers.

An alert carries ids, kinds, severities, organizations and a link: never personal data (no e-mail, no IP,
no user id, no free-text description a rule may have filled with one).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from auralink import config

SEVERITIES = ("low", "medium", "high", "critical")


class AlertConfigError(ValueError):
    """A channel that cannot be used as configured (the message names the setting or connection)."""


@dataclass(frozen=True)
class Alert:
    key: str                      # natural key: what was alerted about (deduplication across runs)
    kind: str                     # security_event | compliance_overdue | compliance_due_soon | night_unfinished
    severity: str
    title: str
    link: str
    organization_id: str | None = None
    organization_name: str | None = None
    facts: dict[str, str] = field(default_factory=dict)   # ids, rule names, dates: nothing personal

    def fields(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "severity": self.severity, "title": self.title,
                "organization_id": self.organization_id, "organization_name": self.organization_name,
                "link": self.link, **self.facts}

    def subject(self) -> str:
        org = f" ({self.organization_name})" if self.organization_name else ""
        return f"[AuraLink {self.severity}] {self.title}{org}"

    def text(self) -> str:
        lines = [self.subject()]
        lines += [f"{k}: {v}" for k, v in self.fields().items() if k not in ("title",) and v not in (None, "")]
        return "\n".join(lines)

    def html(self) -> str:
        return "<pre>" + html.escape(self.text()) + "</pre>"


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, alert: Alert) -> None: ...


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise AlertConfigError(f"alert connection {conn_id!r} is not defined (define it in Airflow, or as "
                               f"AIRFLOW_CONN_{conn_id.upper()})") from None


@dataclass
class EmailChannel:
    conn_id: str
    recipients: list[str]

    @property
    def name(self) -> str:
        return self.conn_id

    def send(self, alert: Alert) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        _connection(self.conn_id)  # a clear error when it is missing
        # notify() directly: the subject and body are final text, not templates to render.
        SmtpNotifier(to=self.recipients, subject=alert.subject(), html_content=alert.html(),
                     smtp_conn_id=self.conn_id).notify({})


def webhook_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    extra = conn.extra_dejson or {}
    if host.startswith(("http://", "https://")):
        url = host
    elif host:
        url = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
    else:
        raise AlertConfigError(f"webhook connection {conn.conn_id!r} has no host")
    if conn.conn_type == "slackwebhook" and conn.password:
        url = url.rstrip("/") + "/" + conn.password.lstrip("/")
    endpoint = extra.get("endpoint")
    return url.rstrip("/") + "/" + str(endpoint).lstrip("/") if endpoint else url


@dataclass
class WebhookChannel:
    conn_id: str

    @property
    def name(self) -> str:
        return self.conn_id

    def send(self, alert: Alert) -> None:
        import httpx

        conn = _connection(self.conn_id)
        extra = conn.extra_dejson or {}
        fmt = str(extra.get("format", "json"))
        body: dict[str, Any] = {"text": alert.text()}
        if fmt != "slack":
            body["alert"] = alert.fields()
        headers = {"Content-Type": "application/json", **{str(k): str(v) for k, v in (extra.get("headers") or {}).items()}}
        response = httpx.post(webhook_url(conn), content=json.dumps(body, default=str), headers=headers,
                              timeout=float(extra.get("timeout", 10)))
        if response.status_code >= 300:
            raise RuntimeError(f"webhook {self.conn_id} answered HTTP {response.status_code}")


def configured() -> list[Channel]:
    """The channels this deployment configured (none: alerts are only recorded as not sent)."""
    channels: list[Channel] = []
    recipients = [a.strip() for a in (config.env("AURALINK_ALERT_EMAILS") or "").split(",") if a.strip()]
    if recipients:
        channels.append(EmailChannel(config.env("AURALINK_ALERT_SMTP_CONN_ID") or "smtp_default", recipients))
    for conn_id in (config.env("AURALINK_ALERT_WEBHOOK_CONN_IDS") or "").split(","):
        if conn_id.strip():
            channels.append(WebhookChannel(conn_id.strip()))
    return channels


def link(path: str) -> str:
    """A link into the admin console (``AURALINK_ALERT_LINK_BASE_URL``) for an alert's subject."""
    base = (config.env("AURALINK_ALERT_LINK_BASE_URL") or "https://console.auralink.example").rstrip("/")
    return f"{base}/{path.lstrip('/')}"
