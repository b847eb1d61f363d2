"""A clock that runs faster than real time, and the sleep that goes with it.

The fake server enforces Amazon's usage plans on such a clock and the client under test sleeps
on one of the same scale, so an hour of Amazon's time passes in 36 real seconds at 100x while
both sides agree on every rate. Only differences between readings matter across processes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["DEFAULT_EPOCH", "ScaledTime"]

#: Where scaled time starts unless told otherwise: after every synthetic order's timestamps.
DEFAULT_EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


class ScaledTime:
    def __init__(self, scale: float = 1.0, *, epoch: datetime = DEFAULT_EPOCH) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self.epoch = epoch
        self._start_s = time.monotonic()

    def elapsed_s(self) -> float:
        """Scaled seconds since this clock was made."""
        return (time.monotonic() - self._start_s) * self.scale

    def now(self) -> datetime:
        return self.epoch + timedelta(seconds=self.elapsed_s())

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)
