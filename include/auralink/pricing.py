"""The AI price book: one CSV, ``dbt_project/seeds/ai_price_book.csv``, read by dbt as a seed and by the
Python jobs (summaries record their cost, the seed generator prices synthetic usage).

Prices: per minute for STT, per character for TTS, per 1k input/output tokens for LLMs (plus an optional
per-request fee, used by agents).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from auralink import config


@dataclass(frozen=True)
class Price:
    feature: str
    provider: str
    model: str
    unit_type: str
    per_unit: Decimal
    per_1k_input_tokens: Decimal
    per_1k_output_tokens: Decimal

    def cost(self, units: float | Decimal = 0, input_tokens: int = 0, output_tokens: int = 0) -> Decimal:
        """List cost in USD, to 6 decimal places."""
        total = (self.per_unit * Decimal(str(units))
                 + self.per_1k_input_tokens * Decimal(input_tokens) / 1000
                 + self.per_1k_output_tokens * Decimal(output_tokens) / 1000)
        return total.quantize(Decimal("0.000001"))


class UnknownPrice(LookupError):
    pass


def price_book_path() -> Path:
    configured = config.env("AURALINK_PRICE_BOOK")
    return Path(configured) if configured else config.project_root() / "dbt_project" / "seeds" / "ai_price_book.csv"


@functools.lru_cache(maxsize=4)
def load_price_book(path: str | None = None) -> dict[tuple[str, str, str], Price]:
    book = {}
    with open(path or price_book_path(), newline="") as fh:
        for row in csv.DictReader(fh):
            price = Price(row["feature"], row["provider"], row["model"], row["unit_type"],
                          Decimal(row["price_per_unit_usd"]), Decimal(row["price_per_1k_input_tokens_usd"]),
                          Decimal(row["price_per_1k_output_tokens_usd"]))
            book[(price.feature, price.provider, price.model)] = price
    return book


def price_for(feature: str, provider: str, model: str) -> Price:
    try:
        return load_price_book()[(feature, provider, model)]
    except KeyError:
        raise UnknownPrice(f"no price for {feature}/{provider}/{model} in {price_book_path()}") from None
