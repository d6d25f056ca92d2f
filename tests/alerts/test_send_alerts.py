"""send_alerts: one alert per new high/critical security event and per compliance request overdue or due
within 3 days, over a real SMTP server (aiosmtpd) and a webhook receiver on 127.0.0.1; nothing again on a
re-run; no personal data in any alert."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests.receivers import http_receiver, message_text, smtp_receiver

SUBJECT_EMAIL = "jane.doe@customer.example"
SOURCE_IP = "203.0.113.77"


@pytest.fixture
def channels(monkeypatch):
    """The e-mail and webhook connections a deployment defines, pointed at local receivers."""
    with smtp_receiver() as smtp, http_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": smtp.host, "port": smtp.port,
            "extra": {"from_email": "alerts@auralink.example", "disable_ssl": True, "disable_tls": True,
                      "retry_limit": 0, "timeout": 10}}))
        monkeypatch.setenv("AURALINK_ALERT_EMAILS", "oncall@auralink.example")
        monkeypatch.setenv("AIRFLOW_CONN_ONCALL_WEBHOOK", json.dumps(
            {"conn_type": "http", "host": f"{hook.url}/hooks/oncall"}))
        monkeypatch.setenv("AURALINK_ALERT_WEBHOOK_CONN_IDS", "oncall_webhook")
        monkeypatch.setenv("AURALINK_ALERT_LINK_BASE_URL", "https://console.test")
        yield smtp, hook


def _night():
    from auralink.jobs.interval import latest_night

    return latest_night()


def _org(db, name="Acme Health") -> uuid.UUID:
    org = uuid.uuid4()
    db.execute("INSERT INTO organizations (id, name, slug, plan) VALUES (%s, %s, %s, 'enterprise')",
               (org, name, f"org-{org.hex[:8]}"))
    return org


def _event(db, org, severity: str, rule: str, at: dt.datetime) -> int:
    user = uuid.uuid4()
    db.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (user, f"{user.hex[:6]}-{SUBJECT_EMAIL}"))
    return db.execute(
        """INSERT INTO security_events (organization_id, user_id, rule, severity, source_ip, description, evidence,
                                        dedup_key, first_seen_at, last_seen_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (org, user, rule, severity, SOURCE_IP, f"{rule} by {SUBJECT_EMAIL} from {SOURCE_IP}",
         json.dumps({"ip": SOURCE_IP, "email": SUBJECT_EMAIL}), f"{rule}:{uuid.uuid4()}", at - dt.timedelta(minutes=5),
         at)).fetchone()[0]


def _request(db, org, due_at: dt.datetime, *, overdue: bool = False) -> uuid.UUID:
    rid = uuid.uuid4()
    db.execute("""INSERT INTO compliance_requests (id, organization_id, subject_email, request_type, received_at,
                                                  due_at, is_overdue)
                  VALUES (%s, %s, %s, 'export', %s, %s, %s)""",
               (rid, org, SUBJECT_EMAIL, due_at - dt.timedelta(days=30), due_at, overdue))
    return rid


def _run():
    from auralink.jobs import run_job

    return run_job("send_alerts")  # the current night (the job is current-only)


def test_one_alert_per_new_event_and_request_and_none_on_a_rerun(db, channels):
    smtp, hook = channels
    night = _night()
    org = _org(db)
    critical = _event(db, org, "critical", "mass_deletion", night.start + dt.timedelta(hours=3))
    _event(db, org, "medium", "api_key_after_hours", night.start + dt.timedelta(hours=4))  # below the bar
    _event(db, org, "high", "privilege_escalation", night.end - dt.timedelta(days=30))  # long over: not new
    overdue = _request(db, org, night.end - dt.timedelta(days=2), overdue=True)
    soon = _request(db, org, night.end + dt.timedelta(days=2))
    _request(db, org, night.end + dt.timedelta(days=10))  # not yet

    stats = _run()
    assert stats["status"] == "succeeded", stats
    assert stats["sent"] == 6 and stats["by_kind"] == {"security_event": 1, "compliance_overdue": 1,
                                                       "compliance_due_soon": 1}, stats
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 3, subjects
    assert any(f"security event {critical}: mass_deletion (Acme Health)" in s and "critical" in s for s in subjects)
    assert any(f"request {overdue} overdue" in s for s in subjects)
    assert any(f"request {soon} due within 3 days" in s for s in subjects)
    posted = hook.json_bodies()
    assert len(posted) == 3 and {p["alert"]["kind"] for p in posted} == {
        "security_event", "compliance_overdue", "compliance_due_soon"}
    event_alert = next(p["alert"] for p in posted if p["alert"]["kind"] == "security_event")
    assert event_alert["event_id"] == str(critical) and event_alert["severity"] == "critical"
    assert event_alert["organization_id"] == str(org) and event_alert["organization_name"] == "Acme Health"
    assert event_alert["link"] == f"https://console.test/security/events/{critical}"
    assert {p for p, _, _ in hook.requests} == {"/hooks/oncall"}
    # No personal data anywhere: not the subject's e-mail, not the source IP, not the user.
    everything = "".join(message_text(m) for m in smtp.messages) + json.dumps(posted)
    assert f"event_id: {critical}" in everything and "link: https://console.test/security/events/" in everything
    assert SUBJECT_EMAIL not in everything and SOURCE_IP not in everything and "@customer" not in everything

    again = _run()   # a re-run of the same night: nothing new to say
    assert again["status"] == "succeeded" and again["sent"] == 0 and again["already_sent"] == 6, again
    assert len(smtp.messages) == 3 and len(hook.requests) == 3

    newer = _event(db, org, "critical", "mass_export", night.start + dt.timedelta(hours=5))
    third = _run()
    assert third["sent"] == 2 and len(smtp.messages) == 4 and len(hook.requests) == 4
    assert str(newer) in smtp.messages[-1]["Subject"]
    assert db.execute("SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM alert_deliveries").fetchone() == (8, 8)


def test_a_failed_channel_is_retried_by_the_next_run_and_the_others_still_send(db, channels, monkeypatch):
    smtp, hook = channels
    night = _night()
    org = _org(db)
    _event(db, org, "high", "admin_new_location", night.start + dt.timedelta(hours=1))
    with http_receiver(status=500) as broken:
        monkeypatch.setenv("AIRFLOW_CONN_ONCALL_WEBHOOK", json.dumps({"conn_type": "http", "host": broken.url}))
        first = _run()
        assert len(broken.requests) == 1
    assert first["status"] == "partial" and first["failed"] == 1 and first["sent"] == 1, first
    assert len(smtp.messages) == 1
    assert db.execute("SELECT channel, status FROM alert_deliveries ORDER BY channel").fetchall() == [
        ("oncall_webhook", "failed"), ("smtp_default", "sent")]
    monkeypatch.setenv("AIRFLOW_CONN_ONCALL_WEBHOOK", json.dumps({"conn_type": "http", "host": hook.url}))
    second = _run()
    assert second["sent"] == 1 and second["already_sent"] == 1 and len(hook.requests) == 1 and len(smtp.messages) == 1
    assert db.execute("SELECT attempts, status FROM alert_deliveries WHERE channel = 'oncall_webhook'").fetchone() == (
        2, "sent")


def test_past_nights_send_nothing_and_no_channel_sends_nothing(db, monkeypatch):
    from auralink.jobs import run_job
    from auralink.jobs.interval import DataInterval

    night = _night()
    org = _org(db)
    _event(db, org, "critical", "mass_deletion", night.start + dt.timedelta(hours=3))
    past = run_job("send_alerts", interval=DataInterval.for_day(night.day - dt.timedelta(days=3)))
    assert past["status"] == "skipped"  # a backfill must not page anyone
    for var in ("AURALINK_ALERT_EMAILS", "AURALINK_ALERT_WEBHOOK_CONN_IDS"):
        monkeypatch.delenv(var, raising=False)
    quiet = _run()
    assert quiet["status"] == "succeeded" and quiet["alerts"] == 1 and quiet["sent"] == 0 and quiet["channels"] == []
    assert db.execute("SELECT count(*) FROM alert_deliveries").fetchone() == (0,)
