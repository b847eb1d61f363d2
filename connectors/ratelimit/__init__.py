"""Usage-plan rate limiting: token buckets per (seller account, operation), shareable by workers.

limiter = BlockingLimiter(MemoryBuckets(), clock=clock, sleep=time.sleep)
limiter = BlockingLimiter(RedisBuckets(redis.Redis.from_url(url)), clock=..., sleep=...)
limiter.acquire("acme/acme-eu/orders.searchOrders", AMAZON_USAGE_PLANS["orders.searchOrders"])
"""

from connectors.ratelimit.base import (
    BlockingLimiter,
    BucketStore,
    Clock,
    Limiter,
    Sleep,
    take_from_bucket,
)
from connectors.ratelimit.memory import MemoryBuckets
from connectors.ratelimit.plans import AMAZON_USAGE_PLANS, UsagePlan, parse_rate_limit_header
from connectors.ratelimit.redis_backend import RedisBuckets

__all__ = [
    "AMAZON_USAGE_PLANS",
    "BlockingLimiter",
    "BucketStore",
    "Clock",
    "Limiter",
    "MemoryBuckets",
    "RedisBuckets",
    "Sleep",
    "UsagePlan",
    "parse_rate_limit_header",
    "take_from_bucket",
]
