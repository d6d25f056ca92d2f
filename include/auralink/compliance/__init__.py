"""Compliance and retention: legal holds, audit-log archival, retention policies, GDPR requests
(export, erasure, deadlines) and compliance reports.

Every deleting path here (erasure, retention, archival) asks :mod:`auralink.compliance.holds` first,
which calls the one SQL check ``legal_hold_applies``.
"""
