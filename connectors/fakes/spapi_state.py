"""What the fake SP-API remembers: sellers, issued tokens, page tokens, usage-plan buckets.

All times are seconds on the server's scaled clock. Access tokens, restricted data tokens and
pagination tokens expire as Amazon's do (an hour, an hour, a day), scaled with the clock.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.fakes.amazon_orders import FakeOrder, synthetic_orders
from connectors.fakes.planted import PlantedBuyer

__all__ = ["Credential", "RestrictedResource", "SellerSpec", "ServerState"]


@dataclass(frozen=True)
class SellerSpec:
    """A seller account the fake knows, with its LWA app credentials and synthetic orders."""

    name: str = "seller-1"
    refresh_token: str = "Atzr|fake-refresh-token-seller-1"  # noqa: S105 (fake)
    lwa_client_id: str = "amzn1.application-oa2-client.fake"
    lwa_client_secret: str = "fake-lwa-client-secret"  # noqa: S105 (fake)
    marketplace_ids: tuple[str, ...] = ("A1PA6795UKMFR9",)
    orders: int = 0
    seed: int = 0
    # Operation -> rate (requests/s) Amazon granted this seller instead of the default.
    rates_per_s: Mapping[str, float] = field(default_factory=dict)
    # Buyers a test chose (canaries), one extra order each after the synthetic ones.
    planted: tuple[PlantedBuyer, ...] = ()


@dataclass(frozen=True)
class RestrictedResource:
    method: str
    path: str  # specific ("/orders/v0/orders/902-...") or generic ("/orders/v0/orders/{orderId}")
    data_elements: frozenset[str]

    def covers(self, method: str, path: str) -> bool:
        if method != self.method:
            return False
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path)) + "$"
        return re.match(pattern, path) is not None


@dataclass(frozen=True)
class Credential:
    """Who an `x-amz-access-token` belongs to, and for an RDT what it unlocks."""

    seller: str
    kind: str  # "lwa" or "rdt"
    expires_at_s: float
    resources: tuple[RestrictedResource, ...] = ()

    def data_elements(self, method: str, path: str) -> frozenset[str]:
        found: set[str] = set()
        for resource in self.resources:
            if resource.covers(method, path):
                found |= resource.data_elements
        return frozenset(found)


@dataclass
class _PageToken:
    seller: str
    operation: str
    query_key: tuple[tuple[str, str], ...]
    offset: int
    issued_at_s: float


class ServerState:
    def __init__(
        self,
        sellers: tuple[SellerSpec, ...],
        *,
        orders_start: datetime,
        spread_days: int,
        token_lifetime_s: float,
        page_token_lifetime_s: float,
    ) -> None:
        self.sellers = {seller.name: seller for seller in sellers}
        if len(self.sellers) != len(sellers):
            raise ValueError("seller names must be unique")
        self.token_lifetime_s = token_lifetime_s
        self.page_token_lifetime_s = page_token_lifetime_s
        self.orders: dict[str, list[FakeOrder]] = {
            seller.name: synthetic_orders(
                count=seller.orders,
                seed=seller.seed,
                marketplace_ids=seller.marketplace_ids,
                start=orders_start.astimezone(UTC),
                spread_days=spread_days,
                planted=seller.planted,
            )
            for seller in sellers
        }
        self._lock = threading.Lock()
        self._credentials: dict[str, Credential] = {}
        self._page_tokens: dict[str, _PageToken] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    # -- credentials ---------------------------------------------------------------------

    def seller_by_refresh_token(self, refresh_token: str) -> SellerSpec | None:
        return next((s for s in self.sellers.values() if s.refresh_token == refresh_token), None)

    def issue(
        self, seller: str, kind: str, now_s: float, resources: tuple[RestrictedResource, ...] = ()
    ) -> str:
        prefix = "Atza|" if kind == "lwa" else "Atz.sprdt|"
        token = prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._credentials[token] = Credential(
                seller, kind, now_s + self.token_lifetime_s, resources
            )
        return token

    def credential(self, token: str) -> Credential | None:
        with self._lock:
            return self._credentials.get(token)

    # -- pagination ----------------------------------------------------------------------

    def issue_page_token(
        self,
        seller: str,
        operation: str,
        query_key: tuple[tuple[str, str], ...],
        offset: int,
        now_s: float,
    ) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._page_tokens[token] = _PageToken(seller, operation, query_key, offset, now_s)
        return token

    def page_offset(
        self,
        token: str,
        seller: str,
        operation: str,
        query_key: tuple[tuple[str, str], ...],
        now_s: float,
    ) -> int | None:
        """The offset a token continues from, or None if it is unknown, expired or misused."""
        with self._lock:
            page = self._page_tokens.get(token)
        if page is None or (page.seller, page.operation) != (seller, operation):
            return None
        if page.query_key != query_key or now_s - page.issued_at_s > self.page_token_lifetime_s:
            return None
        return page.offset

    # -- usage plans ---------------------------------------------------------------------

    def take_token(
        self, seller: str, operation: str, rate_per_s: float, burst: int, now_s: float
    ) -> bool:
        """Amazon's token bucket, written apart from `connectors.ratelimit` on purpose."""
        with self._lock:
            tokens, updated_s = self._buckets.get((seller, operation), (float(burst), now_s))
            tokens = min(float(burst), tokens + max(0.0, now_s - updated_s) * rate_per_s)
            allowed = tokens >= 1.0
            self._buckets[(seller, operation)] = (tokens - 1.0 if allowed else tokens, now_s)
            return allowed

    def drain(self, seller: str, operation: str, now_s: float) -> None:
        with self._lock:
            self._buckets[(seller, operation)] = (0.0, now_s)


def query_key(
    params: Mapping[str, Any], declared: frozenset[str], skip: str
) -> tuple[tuple[str, str], ...]:
    """The parameters a page token is bound to: the operation's own, minus the token."""
    return tuple(
        sorted(
            (name, str(value))
            for name, value in params.items()
            if name in declared and name != skip
        )
    )
