"""Custom reports: declarative definitions (allow-listed, never SQL), cron schedules in the organization's
time zone, CSV / JSON / PDF outputs (definition format: docs/reports.md)."""
