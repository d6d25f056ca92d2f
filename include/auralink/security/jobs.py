"""Nightly security detection over the audit log up to the night's end, incremental from a watermark.

The window runs from the watermark (less an overlap, for events committed late) to the interval's end,
and always covers the night itself, so clearing a past night re-detects it; findings are deduplicated,
so overlapping windows never report an event twice."""

from __future__ import annotations

import datetime as dt

from auralink.jobs import JobContext, job

DETECTOR = "security_events"


@job("detect_security_events", stage=50, after=("check_source_quality",), produces=("public.security_events",))
def detect_security_events(ctx: JobContext, since: dt.datetime | None = None, rules: str | None = None) -> dict:
    """Security events from audit_logs (failed-login bursts, privilege escalation, mass export/deletion,
    admin from a new country/IP, API keys created after hours); deduplicated, incremental."""
    from auralink.security.detection import RULES, DetectionErrors, Window, detect
    from auralink.security.settings import SecuritySettings

    settings = SecuritySettings.from_env()
    until = ctx.interval.end
    selected = [r.strip() for r in rules.split(",")] if rules else list(RULES)
    unknown = sorted(set(selected) - set(RULES))
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULES)}")
    with ctx.connect(autocommit=True) as conn:
        if since is None:
            row = conn.execute("SELECT watermark FROM detection_watermarks WHERE detector = %s", (DETECTOR,)).fetchone()
            since = (row[0] - dt.timedelta(hours=settings.overlap_hours) if row
                     else until - dt.timedelta(days=settings.initial_lookback_days))
            since = min(since, ctx.interval.start)
        since = _aware(since)
        assert since is not None  # set from the argument or the watermark above
        if since >= until:
            raise ValueError(f"since ({since}) must be before until ({until})")
        try:
            stats = detect(conn, Window(since, until), settings, selected)
        except DetectionErrors as exc:
            for rule, error in exc.errors.items():
                ctx.record_item("security_rule", rule, "failed", error)
            stats = exc.stats
        else:
            # The watermark only moves forward, and only when every rule ran.
            conn.execute(
                """INSERT INTO detection_watermarks (detector, watermark) VALUES (%s, %s)
                   ON CONFLICT (detector) DO UPDATE SET watermark = greatest(detection_watermarks.watermark,
                                                                             EXCLUDED.watermark), updated_at = now()""",
                (DETECTOR, until))
        for rule, s in stats.items():
            ctx.record_item("security_rule", rule, "succeeded", f"{s['findings']} finding(s), {s['new']} new")
    return {"since": since.isoformat(), "until": until.isoformat(), "rules": stats,
            "new_events": sum(s["new"] for s in stats.values())}


def _aware(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=dt.UTC)
    return ts
