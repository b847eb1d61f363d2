"""Restricted data tokens for Orders API v0, minted explicitly and reused.

The library's `RestrictedResources=` shortcut mints one token per call, which doubles the calls
and spends the Tokens API's plan (1 request/s). One token covers every restricted resource a pull
needs, including the generic `{orderId}` path of getOrderItems, and lives an hour; it is
renewed shortly before it expires, or when Amazon refuses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from connectors.amazon.lifetimes import renew_at
from connectors.ratelimit.base import Clock

__all__ = ["V0_RESTRICTED_RESOURCES", "RestrictedDataTokens"]

#: getOrders with buyer and address data; getOrderItems with gift messages and custom URLs.
V0_RESTRICTED_RESOURCES: tuple[dict[str, object], ...] = (
    {
        "method": "GET",
        "path": "/orders/v0/orders",
        "dataElements": ["buyerInfo", "shippingAddress"],
    },
    {
        "method": "GET",
        "path": "/orders/v0/orders/{orderId}/orderItems",
        "dataElements": ["buyerInfo"],
    },
)

# Renew this long before expiry: a page of v0 items can take minutes under the usage plan.
_REFRESH_MARGIN = timedelta(minutes=5)


class RestrictedDataTokens:
    def __init__(self, mint: Callable[[], tuple[str, int]], *, clock: Clock) -> None:
        """`mint()` calls the Tokens API and returns (token, lifetime in seconds)."""
        self._mint = mint
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: datetime | None = None
        self.minted_count = 0

    def current(self) -> str:
        with self._lock:
            fresh = self._renew_at is not None and self._clock() < self._renew_at
            if self._token is not None and fresh:
                return self._token
        token, lifetime_s = self._mint()
        with self._lock:
            self._token = token
            self._renew_at = renew_at(self._clock(), lifetime_s, _REFRESH_MARGIN)
            self.minted_count += 1
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._renew_at = None
