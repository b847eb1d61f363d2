"""Usage plans: how fast, and in what bursts, a marketplace lets one seller call one operation.

Amazon states each operation's plan in its API model (the operation's description) and may
grant a seller a different rate, announced in the `x-amzn-RateLimit-Limit` response header.
The table below is Amazon's default; `tests/connectors/test_ratelimit_plans.py` checks it
against the models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["AMAZON_USAGE_PLANS", "UsagePlan", "parse_rate_limit_header"]


@dataclass(frozen=True)
class UsagePlan:
    """A token bucket: `burst` tokens at most, refilled at `rate_per_s` tokens per second."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise ValueError("rate_per_s must be a positive number")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def interval_s(self) -> float:
        """Seconds between two requests once the burst is spent."""
        return 1.0 / self.rate_per_s

    def with_rate(self, rate_per_s: float) -> UsagePlan:
        return UsagePlan(rate_per_s=rate_per_s, burst=self.burst)


#: Operation name -> Amazon's default usage plan (selling-partner-api-models, 2026-08).
AMAZON_USAGE_PLANS: Mapping[str, UsagePlan] = MappingProxyType(
    {
        "orders.searchOrders": UsagePlan(rate_per_s=0.0056, burst=20),
        "orders.getOrder": UsagePlan(rate_per_s=0.5, burst=30),
        "ordersV0.getOrders": UsagePlan(rate_per_s=0.0167, burst=20),
        "ordersV0.getOrder": UsagePlan(rate_per_s=0.5, burst=30),
        "ordersV0.getOrderItems": UsagePlan(rate_per_s=0.5, burst=30),
        "tokens.createRestrictedDataToken": UsagePlan(rate_per_s=1.0, burst=10),
    }
)


def parse_rate_limit_header(value: str | None) -> float | None:
    """The rate (requests per second) in an `x-amzn-RateLimit-Limit` header, if it holds one."""
    if not value:
        return None
    try:
        rate_per_s = float(value.strip())
    except ValueError:
        return None
    return rate_per_s if math.isfinite(rate_per_s) and rate_per_s > 0 else None
