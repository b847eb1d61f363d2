"""One seller account's settings, as plain values: the pipeline resolves secrets before this."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["LWA_ENDPOINT", "REGION_ENDPOINTS", "AmazonAccountSettings"]

REGION_ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
LWA_ENDPOINT = "https://api.amazon.com/auth/o2/token"

OrdersApi = Literal["2026-01-01", "v0"]
Region = Literal["na", "eu", "fe"]


@dataclass(frozen=True)
class AmazonAccountSettings:
    """An Amazon seller account of one ordervault client. Secrets never appear in its repr."""

    client_id: str  # the ordervault client the orders belong to
    account: str
    region: Region
    marketplace_ids: tuple[str, ...]
    refresh_token: str = field(repr=False)
    lwa_client_id: str = field(repr=False)
    lwa_client_secret: str = field(repr=False)
    orders_api: OrdersApi = "2026-01-01"
    endpoint: str | None = None
    lwa_endpoint: str | None = None

    def __post_init__(self) -> None:
        if self.region not in REGION_ENDPOINTS:
            raise ValueError(f"unknown region {self.region!r}")
        if self.orders_api not in ("2026-01-01", "v0"):
            raise ValueError(f"unknown orders_api {self.orders_api!r}")
        if not self.marketplace_ids:
            raise ValueError("marketplace_ids must not be empty")
        if not (self.refresh_token and self.lwa_client_id and self.lwa_client_secret):
            raise ValueError("refresh_token, lwa_client_id and lwa_client_secret are required")
        object.__setattr__(self, "marketplace_ids", tuple(self.marketplace_ids))
        for name in ("endpoint", "lwa_endpoint"):
            value = getattr(self, name)
            if value is not None:
                _check_url(name, value)

    @property
    def sp_api_url(self) -> str:
        return (self.endpoint or REGION_ENDPOINTS[self.region]).rstrip("/")

    @property
    def lwa_url(self) -> str:
        return self.lwa_endpoint or LWA_ENDPOINT

    @property
    def limiter_prefix(self) -> str:
        """Buckets are per seller account; an account name is unique within its client."""
        return f"amazon/{self.client_id}/{self.account}"


def _check_url(name: str, url: str) -> None:
    # The config layer checks this too; a connector built by other code must not send
    # credentials over plain http to anything but this machine either.
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise ValueError(f"{name}: expected https://, or http:// to a loopback address")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
