"""When to try a failed delivery again: exponential backoff with full jitter, and Retry-After.

Full jitter (a uniform delay between zero and the exponential ceiling) spreads the retries of
many workers that failed together, so a recovering receiver is not hit by a synchronised wave.
A server's Retry-After is a floor: we never come back sooner than it asked.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

DEFAULT_BASE_S = 2.0
DEFAULT_CAP_S = 3600.0
# A receiver asking for more than a day is misconfigured; waiting longer helps nobody.
MAX_RETRY_AFTER_S = 86_400.0


def backoff_delay_s(
    attempt: int,
    *,
    random_fraction: Callable[[], float] = random.random,
    base_s: float = DEFAULT_BASE_S,
    cap_s: float = DEFAULT_CAP_S,
    retry_after_s: float | None = None,
) -> float:
    """Seconds to wait before attempt `attempt + 1`, after `attempt` (>= 1) failures.

    `random_fraction` returns a float in [0, 1); pass a seeded one in tests.
    """
    if attempt < 1:
        raise ValueError("attempt counts failures so far and starts at 1")
    # 2**63 already exceeds any cap; stop the exponent there instead of building huge ints.
    ceiling_s = min(cap_s, base_s * 2.0 ** min(attempt - 1, 63))
    delay_s = random_fraction() * ceiling_s
    if retry_after_s is not None:
        delay_s = max(delay_s, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay_s


def parse_retry_after(value: str | None, *, now_s: float) -> float | None:
    """A Retry-After header in seconds from `now_s`: delay-seconds or an HTTP-date (RFC 9110).

    None when absent or unparseable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown origin; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s)
