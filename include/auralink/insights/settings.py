"""Thresholds of the cost insights; each overridable by ``AURALINK_INSIGHTS_<FIELD>``.

No plan prices here: plan fees, allowances and overage rates are read from ``billing_plans``, AI prices
from the price book (``auralink.pricing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from auralink import config

ENV_PREFIX = "AURALINK_INSIGHTS_"


@dataclass(frozen=True)
class InsightSettings:
    window_days: int = 30                  # usage looked at; extrapolated to a 30-day month
    min_observed_days: int = 3             # fewer days of history than this: no plan advice yet
    # A hard-capped plan is only advised when the usage fits this share of its allowance (room to grow).
    capped_plan_headroom: Decimal = Decimal("0.80")
    min_monthly_saving_usd: Decimal = Decimal("5.00")     # plan and model advice below this is noise
    # AI model choice for summaries (feature 'llm'): advised where usage is high.
    summary_min_monthly_requests: int = 100
    cheaper_summary_model: str = "openai/gpt-4o-mini"     # provider/model in the price book
    min_idle_seats: int = 1
    # What a GB-month of recording storage costs (an estimate of the storage bill, not a plan price).
    storage_cost_per_gb_month_usd: Decimal = Decimal("0.023")
    min_overdue_recordings: int = 1

    @classmethod
    def from_env(cls, **overrides) -> InsightSettings:
        return config.settings_from_env(cls, ENV_PREFIX, **overrides)
