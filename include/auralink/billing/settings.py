"""Billing settings that are not prices (prices live in the ``billing_plans`` table only)."""

from __future__ import annotations

from dataclasses import dataclass

from auralink import config


@dataclass(frozen=True)
class BillingSettings:
    # Usage for a closed month that arrives within this many days after the month ends is billed as an
    # adjustment on the next invoice; later usage is not billed (it is counted in the job's stats).
    late_usage_grace_days: int = 7

    def __post_init__(self) -> None:
        # The adjustment goes on the next month's invoice, which must still be open when grace ends.
        if not 0 <= self.late_usage_grace_days <= 27:
            raise ValueError(f"late_usage_grace_days must be between 0 and 27, got {self.late_usage_grace_days}")

    @classmethod
    def from_env(cls) -> BillingSettings:
        raw = config.env("AURALINK_BILLING_GRACE_DAYS")
        if raw is None:
            return cls()
        try:
            return cls(late_usage_grace_days=int(raw))
        except ValueError as exc:
            raise ValueError(f"AURALINK_BILLING_GRACE_DAYS: {exc}") from None
