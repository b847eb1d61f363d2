"""The per-account daily call budget: one unit is taken before every Trading API request.

eBay allows each application a fixed number of Trading API calls per user and day; a seller's
backfill must not spend what the rest of the day's pulls need. The store is injected so that
every worker draws from one count: in process memory here, in the database in production.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Protocol

__all__ = ["CallBudget", "InMemoryCallBudget"]


class CallBudget(Protocol):
    def take(self, key: str, day: date, limit: int) -> bool:
        """Atomically count one call for `key` on `day` if fewer than `limit` were counted.

        Return False (counting nothing) when the day's budget is spent.
        """


class InMemoryCallBudget:
    """A `CallBudget` for one process. Days other than the latest one seen are forgotten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple[str, date], int] = {}

    def take(self, key: str, day: date, limit: int) -> bool:
        with self._lock:
            for stale in [k for k in self._used if k[0] == key and k[1] < day]:
                del self._used[stale]
            used = self._used.get((key, day), 0)
            if used >= limit:
                return False
            self._used[(key, day)] = used + 1
            return True

    def used(self, key: str, day: date) -> int:
        with self._lock:
            return self._used.get((key, day), 0)
