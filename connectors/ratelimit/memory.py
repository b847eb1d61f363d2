"""Token buckets in process memory: one process, any number of threads."""

from __future__ import annotations

import threading

from connectors.ratelimit.base import take_from_bucket

__all__ = ["MemoryBuckets"]


class MemoryBuckets:
    """A `BucketStore` for a single process (the demo, tests, a one-machine deployment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (tokens, updated_s)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._rates_per_s: dict[str, float] = {}

    def take(self, key: str, default_rate_per_s: float, capacity: float, now_s: float) -> float:
        with self._lock:
            tokens, updated_s = self._buckets.get(key, (capacity, now_s))
            rate_per_s = self._rates_per_s.get(key, default_rate_per_s)
            tokens, updated_s, wait_s = take_from_bucket(
                tokens, updated_s, rate_per_s, capacity, now_s
            )
            self._buckets[key] = (tokens, updated_s)
            return wait_s

    def set_rate(self, key: str, rate_per_s: float) -> None:
        with self._lock:
            self._rates_per_s[key] = rate_per_s
