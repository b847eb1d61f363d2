"""How long a token Amazon issued (LWA access token, restricted data token) is used.

Amazon states a lifetime in seconds (3600 for both). A response could say anything: a
lifetime that is not a positive integer is refused like a missing token, one longer than a day
is trusted for a day (Python cannot add 10**20 seconds to a date), and a token is renewed a
margin before it expires, but never before half its lifetime has passed, so that a short-lived
token is used rather than renewed in a tight loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["MAX_LIFETIME_S", "accepted_lifetime_s", "renew_at"]

MAX_LIFETIME_S = 86_400


def accepted_lifetime_s(value: object) -> int | None:
    """The lifetime to use, or None when `value` is not a positive whole number of seconds."""
    if type(value) is not int or value <= 0:
        return None
    return min(value, MAX_LIFETIME_S)


def renew_at(issued_at: datetime, lifetime_s: int, margin: timedelta) -> datetime:
    lifetime = timedelta(seconds=lifetime_s)
    return issued_at + lifetime - min(margin, lifetime / 2)
