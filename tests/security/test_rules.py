"""Each rule fires on data that should fire it and stays quiet on data that should not."""

from __future__ import annotations

import datetime as dt

import pytest
from auralink.security.detection import Window, detect
from auralink.security.settings import SecuritySettings

T0 = dt.datetime(2026, 11, 10, 15, 0, tzinfo=dt.UTC)   # Tuesday 10:00 in New York
WIN = Window(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, tzinfo=dt.UTC))


def run(conn, settings=None, win=WIN):
    return detect(conn, win, settings or SecuritySettings())


def sec(n: int) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def test_failed_login_burst_per_user_fires(audit, db):
    for i in range(6):
        audit.event("member", "auth.login_failed", T0 + sec(20 * i), outcome="failure", ip="203.0.113.9", country="RU")
    run(db)
    [ev] = audit.events("failed_login_burst")
    assert ev["user_id"] == audit.users["member"]["id"] and ev["occurrences"] == 6
    assert ev["severity"] == "medium" and ev["evidence"]["subject"] == "user"
    assert str(ev["source_ip"]) == "203.0.113.9"


def test_failed_logins_below_threshold_or_spread_out_stay_quiet(audit, db):
    for i in range(4):                                      # below the threshold of 5
        audit.event("member", "auth.login_failed", T0 + sec(20 * i), outcome="failure")
    for i in range(8):                                      # one every 15 minutes: never 5 in 10 minutes
        audit.event("member2", "auth.login_failed", T0 + dt.timedelta(minutes=15 * i), outcome="failure", ip="10.0.0.2")
    audit.event("admin", "auth.login", T0, outcome="success")
    run(db)
    assert audit.events("failed_login_burst") == []


def test_failed_login_burst_per_ip_fires_across_accounts(audit, db):
    victims = [audit.user("member") for _ in range(10)]
    for i, v in enumerate(victims):
        audit.event(v, "auth.login_failed", T0 + sec(40 * i), outcome="failure", ip="198.51.100.7")
    run(db)
    events = audit.events("failed_login_burst")
    assert [e["evidence"]["subject"] for e in events] == ["ip"]
    assert events[0]["severity"] == "high" and events[0]["evidence"]["accounts"] == 10


@pytest.mark.parametrize("old, new, severity", [("member", "admin", "high"), ("member", "owner", "critical"),
                                                ("admin", "owner", "critical")])
def test_privilege_escalation_fires(audit, db, old, new, severity):
    audit.event("owner", "member.role_changed", T0, old={"role": old}, new={"role": new},
                resource_type="user", resource_id=str(audit.users["member"]["id"]))
    run(db)
    [ev] = audit.events("privilege_escalation")
    assert ev["severity"] == severity and ev["evidence"]["new_role"] == new


def test_role_changes_that_do_not_escalate_stay_quiet(audit, db):
    audit.event("owner", "member.role_changed", T0, old={"role": "member"}, new={"role": "viewer"})
    audit.event("owner", "member.role_changed", T0 + sec(5), old={"role": "owner"}, new={"role": "admin"})
    audit.event("owner", "member.role_changed", T0 + sec(9), old={"role": "admin"}, new={"role": "admin"})
    run(db)
    assert audit.events("privilege_escalation") == []


def test_mass_export_and_deletion_fire(audit, db):
    for i in range(30):
        audit.event("member", "data.export", T0 + sec(20 * i), resource_type="recording", resource_id=str(i))
    for i in range(25):
        audit.event("admin", "data.delete", T0 + sec(25 * i), resource_type="recording", resource_id=str(i))
    run(db)
    [exp] = audit.events("mass_export")
    [dele] = audit.events("mass_deletion")
    assert exp["occurrences"] == 30 and exp["severity"] == "high"
    assert dele["occurrences"] == 25 and dele["severity"] == "critical"


def test_few_or_slow_exports_stay_quiet(audit, db):
    for i in range(10):
        audit.event("member", "data.export", T0 + sec(20 * i))
    for i in range(40):                                     # one an hour, for 40 hours
        audit.event("member2", "data.export", T0 + dt.timedelta(hours=i), ip="10.0.0.2")
    for i in range(19):
        audit.event("admin", "data.delete", T0 + sec(10 * i))
    run(db)
    assert audit.events("mass_export") == [] and audit.events("mass_deletion") == []


def _baseline(audit, who: str):
    for d in range(5):
        audit.event(who, "auth.login", T0 - dt.timedelta(days=d + 1), ip="10.0.0.1", country="US")


def test_admin_from_new_country_and_new_ip_fire(audit, db):
    _baseline(audit, "admin")
    _baseline(audit, "owner")
    audit.event("admin", "auth.login", T0, ip="203.0.113.50", country="RU")
    audit.event("owner", "auth.login", T0, ip="10.9.9.9", country="US")
    run(db)
    events = {e["evidence"]["role"]: e for e in audit.events("admin_new_location")}
    assert events["admin"]["severity"] == "high" and events["admin"]["evidence"]["country"] == "RU"
    assert events["admin"]["evidence"]["known_countries"] == ["US"]
    assert events["owner"]["severity"] == "medium" and events["owner"]["dedup_key"].startswith("admin_new_location:ip:")


def test_known_location_members_and_no_baseline_stay_quiet(audit, db):
    _baseline(audit, "admin")
    _baseline(audit, "member")
    audit.event("admin", "auth.login", T0, ip="10.0.0.1", country="US")            # known place
    audit.event("member", "auth.login", T0, ip="203.0.113.50", country="RU")       # not an admin
    audit.event("owner", "auth.login", T0, ip="203.0.113.51", country="CN")        # no baseline yet
    audit.event("admin", "auth.login", T0 + sec(60), ip="203.0.113.52", country="KP", outcome="failure")  # failed
    run(db)
    assert audit.events("admin_new_location") == []


def test_new_ip_is_quiet_when_configured_off(audit, db):
    _baseline(audit, "admin")
    audit.event("admin", "auth.login", T0, ip="10.9.9.9", country="US")
    run(db, SecuritySettings(flag_new_ip=False))
    assert audit.events("admin_new_location") == []


def test_api_key_created_outside_business_hours_fires(audit, db):
    audit.event("admin", "api_key.created", dt.datetime(2026, 11, 10, 8, 0, tzinfo=dt.UTC), resource_id="1")   # 03:00 NY
    audit.event("admin", "api_key.created", dt.datetime(2026, 11, 14, 17, 0, tzinfo=dt.UTC), resource_id="2")  # Sat noon
    run(db)
    events = audit.events("api_key_after_hours")
    assert len(events) == 2
    assert "Tue 03:00" in events[0]["description"] and "Sat 12:00" in events[1]["description"]


def test_api_key_created_in_business_hours_stays_quiet(audit, db):
    audit.event("admin", "api_key.created", T0)                                                  # Tue 10:00 NY
    audit.event("admin", "api_key.created", dt.datetime(2026, 11, 10, 23, 59, tzinfo=dt.UTC))    # Tue 18:59 NY
    run(db)
    assert audit.events("api_key_after_hours") == []


def test_rerun_deduplicates_and_keeps_triage_status(audit, db):
    for i in range(6):
        audit.event("member", "auth.login_failed", T0 + sec(20 * i), outcome="failure")
    audit.event("owner", "member.role_changed", T0, old={"role": "member"}, new={"role": "admin"})
    first = run(db)
    db.execute("UPDATE security_events SET status = 'acknowledged' WHERE rule = 'privilege_escalation'")
    second = run(db, win=Window(WIN.since - dt.timedelta(days=3), WIN.until))
    assert first["failed_login_burst"]["new"] == 1 and second["failed_login_burst"]["new"] == 0
    assert second["privilege_escalation"] == {"findings": 1, "new": 0, "updated": 1}
    events = audit.events()
    assert len(events) == 2
    assert {e["rule"]: e["occurrences"] for e in events}["failed_login_burst"] == 6
    assert {e["rule"]: e["status"] for e in events}["privilege_escalation"] == "acknowledged"


def test_thresholds_come_from_the_environment(audit, db, monkeypatch):
    for i in range(6):
        audit.event("member", "auth.login_failed", T0 + sec(20 * i), outcome="failure")
    monkeypatch.setenv("AURALINK_SECURITY_FAILED_LOGIN_USER_THRESHOLD", "10")
    monkeypatch.setenv("AURALINK_SECURITY_BUSINESS_DAYS", "1,2,3,4,5,6")
    settings = SecuritySettings.from_env()
    assert settings.failed_login_user_threshold == 10 and settings.business_days == (1, 2, 3, 4, 5, 6)
    run(db, settings)
    assert audit.events("failed_login_burst") == []
    monkeypatch.setenv("AURALINK_SECURITY_MASS_EXPORT_THRESHOLD", "many")
    with pytest.raises(ValueError, match="AURALINK_SECURITY_MASS_EXPORT_THRESHOLD"):
        SecuritySettings.from_env()


def test_business_hours_are_those_of_the_zone_in_force_when_the_key_was_created(audit, db):
    # New York until the end of October, Tokyo from then (as organization_timezone_history records a change)
    db.execute("INSERT INTO organization_timezone_history (organization_id, timezone, effective_from, first_local_date)"
               " VALUES (%s, 'Asia/Tokyo', '2026-11-01 04:00+00', '2026-11-01')", (audit.org,))
    audit.event("admin", "api_key.created", dt.datetime(2026, 10, 27, 14, 0, tzinfo=dt.UTC))   # Tue 10:00 New York
    audit.event("admin", "api_key.created", dt.datetime(2026, 11, 10, 15, 0, tzinfo=dt.UTC))   # Wed 00:00 Tokyo
    run(db, win=Window(dt.datetime(2026, 10, 20, tzinfo=dt.UTC), WIN.until))
    [ev] = audit.events("api_key_after_hours")
    assert ev["evidence"]["timezone"] == "Asia/Tokyo" and ev["evidence"]["local_time"].startswith("2026-11-11T00:00")
