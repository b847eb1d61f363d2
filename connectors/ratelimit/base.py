"""The limiter the connectors call before every request, over a pluggable bucket store.

`Limiter` is all a connector sees: `acquire` blocks (through the injected `sleep`) until the
plan allows one more request, `observe_rate` adopts the rate the marketplace announced.
`BlockingLimiter` implements it over any `BucketStore`, the one atomic step a backend must
provide: in process memory, in Redis, or in the database (`storage.SqlBuckets`), so that every
worker process draws from the same bucket and together they never exceed one plan.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from connectors.ratelimit.plans import UsagePlan

__all__ = [
    "CLOCK_RESOLUTION_S",
    "BlockingLimiter",
    "BucketStore",
    "Clock",
    "Limiter",
    "Sleep",
    "take_from_bucket",
]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""
#: A `datetime` cannot move by less than a microsecond.
CLOCK_RESOLUTION_S = 1e-6
Sleep = Callable[[float], None]
"""Blocks for the given number of seconds."""


class Limiter(Protocol):
    def acquire(self, key: str, plan: UsagePlan) -> None:
        """Return once one request under `plan` may be sent for `key`; the token is spent."""

    def observe_rate(self, key: str, rate_per_s: float) -> None:
        """The marketplace announced `rate_per_s` for `key`: use it instead of the plan's."""


class BucketStore(Protocol):
    def take(self, key: str, default_rate_per_s: float, capacity: float, now_s: float) -> float:
        """Atomically refill the bucket to `now_s` and take one token.

        The bucket starts full (`capacity` tokens) and refills at its observed rate, else at
        `default_rate_per_s`. Return 0.0 when a token was taken, else the seconds until one
        will be there (nothing is taken then).
        """

    def set_rate(self, key: str, rate_per_s: float) -> None:
        """Remember an observed rate for `key`; later `take` calls refill at it."""


def take_from_bucket(
    tokens: float, updated_s: float, rate_per_s: float, capacity: float, now_s: float
) -> tuple[float, float, float]:
    """Pure token-bucket step: (tokens after, new updated_s, seconds to wait or 0.0).

    A clock that went backwards (another host, a skewed worker) refills nothing rather than
    draining the bucket.
    """
    if now_s > updated_s:
        tokens = min(capacity, tokens + (now_s - updated_s) * rate_per_s)
        updated_s = now_s
    tokens = min(tokens, capacity)
    if tokens >= 1.0:
        return tokens - 1.0, updated_s, 0.0
    return tokens, updated_s, (1.0 - tokens) / rate_per_s


class BlockingLimiter:
    """A `Limiter` over a `BucketStore`.

    `reserve_tokens` keeps that many tokens of the burst unused. Our bucket and the
    marketplace's drain at the same rate but are read at slightly different moments (the
    request's transit time varies); one spare token absorbs that jitter, so a full-speed
    backfill meets no 429 at the price of one request interval over the whole run.
    """

    def __init__(
        self,
        store: BucketStore,
        *,
        clock: Clock,
        sleep: Sleep,
        reserve_tokens: float = 1.0,
        clock_resolution_s: float = CLOCK_RESOLUTION_S,
    ) -> None:
        if reserve_tokens < 0:
            raise ValueError("reserve_tokens must not be negative")
        if not clock_resolution_s > 0:
            raise ValueError("clock_resolution_s must be positive")
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._reserve_tokens = reserve_tokens
        self._clock_resolution_s = clock_resolution_s
        self._observed: dict[str, float] = {}
        self._lock = threading.Lock()

    def capacity(self, plan: UsagePlan) -> float:
        return max(1.0, plan.burst - self._reserve_tokens)

    def acquire(self, key: str, plan: UsagePlan) -> None:
        capacity = self.capacity(plan)
        while True:
            wait_s = self._store.take(key, plan.rate_per_s, capacity, self._clock().timestamp())
            if wait_s <= 0.0:
                return
            # A wait shorter than the clock can move (a float's leftover after the previous
            # sleep was rounded to whole microseconds) would leave the clock where it was and
            # the bucket as empty: the loop would spin. Sleeping one tick always makes progress.
            self._sleep(max(wait_s, self._clock_resolution_s))

    def observe_rate(self, key: str, rate_per_s: float) -> None:
        # Every response carries the header; write to the store only when the rate changes.
        with self._lock:
            if self._observed.get(key) == rate_per_s:
                return
            self._observed[key] = rate_per_s
        self._store.set_rate(key, rate_per_s)
