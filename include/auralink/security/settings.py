"""Detection thresholds: defaults here, each overridable by an env var ``AURALINK_SECURITY_<FIELD>``.

Tuples are comma-separated in the environment (``AURALINK_SECURITY_PRIVILEGED_ROLES=admin,owner``),
booleans are true/false. ``SecuritySettings.from_env()`` validates and says which variable is wrong.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from auralink import config

ENV_PREFIX = "AURALINK_SECURITY_"


@dataclass(frozen=True)
class SecuritySettings:
    # Audit action names (the product's and the seed's vocabulary).
    login_actions: tuple[str, ...] = ("auth.login",)
    failed_login_actions: tuple[str, ...] = ("auth.login_failed",)   # plus login_actions with outcome 'failure'
    role_change_actions: tuple[str, ...] = ("member.role_changed",)
    export_actions: tuple[str, ...] = ("data.export",)
    delete_actions: tuple[str, ...] = ("data.delete",)
    api_key_actions: tuple[str, ...] = ("api_key.created",)

    # Failed-login bursts: this many failures within the window, per user and per source IP.
    failed_login_window_minutes: int = 10
    failed_login_user_threshold: int = 5
    failed_login_ip_threshold: int = 10

    # Privilege escalation: a role change that grants one of these roles.
    privileged_roles: tuple[str, ...] = ("admin", "owner")

    # Mass export / deletion by one actor within the window.
    mass_action_window_minutes: int = 60
    mass_export_threshold: int = 25
    mass_delete_threshold: int = 20

    # New country / IP for an admin: compared with the actor's successful events over the baseline;
    # an actor with fewer baseline events than the minimum has no baseline yet (never flagged).
    new_location_roles: tuple[str, ...] = ("owner", "admin")
    new_location_baseline_days: int = 90
    new_location_min_baseline_events: int = 3
    flag_new_ip: bool = True

    # API key creation outside business hours, in the organization's time zone. Days: 1=Monday..7=Sunday.
    business_hours_start: int = 8
    business_hours_end: int = 19
    business_days: tuple[int, ...] = (1, 2, 3, 4, 5)

    # Incremental reading: the first run looks back this far; later runs re-read this much before the
    # watermark so a burst that straddles two runs is seen whole (dedup keys keep it one event).
    initial_lookback_days: int = 30
    overlap_hours: int = 24

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"security setting {f.name} must be >= 0, got {value}")
        for name in ("failed_login_user_threshold", "failed_login_ip_threshold", "mass_export_threshold",
                     "mass_delete_threshold", "failed_login_window_minutes", "mass_action_window_minutes"):
            if getattr(self, name) < 1:
                raise ValueError(f"security setting {name} must be >= 1")
        if not 0 <= self.business_hours_start < self.business_hours_end <= 24:
            raise ValueError("business hours must satisfy 0 <= start < end <= 24")
        if not set(self.business_days) <= set(range(1, 8)):
            raise ValueError("business_days are ISO weekdays 1 (Monday) .. 7 (Sunday)")

    @classmethod
    def from_env(cls, **overrides) -> SecuritySettings:
        return config.settings_from_env(cls, ENV_PREFIX, **overrides)
