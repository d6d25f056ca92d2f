"""Security events detected from the audit log (rules and thresholds: docs/security.md)."""
