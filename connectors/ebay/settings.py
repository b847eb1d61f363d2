"""One eBay seller account's settings, as plain values: the pipeline resolves secrets first."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["DEFAULT_DAILY_CALL_BUDGET", "PRODUCTION_ENDPOINT", "AuthScheme", "EbayAccountSettings"]

PRODUCTION_ENDPOINT = "https://api.ebay.com/ws/api.dll"
#: eBay's default Trading API allowance is 5,000 calls a day per application and user.
DEFAULT_DAILY_CALL_BUDGET = 5000

AuthScheme = Literal["auto", "oauth", "auth_n_auth"]
# Auth'n'Auth tokens are base64 that always opens with this; OAuth user tokens open with "v^".
_AUTH_N_AUTH_PREFIX = "AgAAAA"


@dataclass(frozen=True)
class EbayAccountSettings:
    """An eBay seller account of one ordervault client. Secrets never appear in its repr.

    `app_id`, `dev_id` and `cert_id` are always strings (empty when an OAuth token makes them
    unnecessary): ebaysdk copies them into HTTP headers, and requests refuses a None header.
    """

    client_id: str  # the ordervault client the orders belong to
    account: str
    site_id: int
    token: str = field(repr=False)
    app_id: str = field(repr=False)
    dev_id: str = field(repr=False)
    cert_id: str = field(repr=False)
    endpoint: str | None = None  # Trading API URL; http:// only to a loopback address
    daily_call_budget: int = DEFAULT_DAILY_CALL_BUDGET
    # "auto": Auth'n'Auth when the token looks like one, else an OAuth user access token.
    auth_scheme: AuthScheme = "auto"

    def __post_init__(self) -> None:
        for name in ("client_id", "account", "token"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        for name in ("app_id", "dev_id", "cert_id"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string (empty when unused), not None")
        if isinstance(self.site_id, bool) or not isinstance(self.site_id, int):
            raise ValueError("site_id must be an integer")
        if not 0 <= self.site_id <= 500:
            raise ValueError("site_id must be between 0 and 500")
        if isinstance(self.daily_call_budget, bool) or not isinstance(self.daily_call_budget, int):
            raise ValueError("daily_call_budget must be an integer")
        if self.daily_call_budget < 1:
            raise ValueError("daily_call_budget must be at least 1")
        if self.auth_scheme not in ("auto", "oauth", "auth_n_auth"):
            raise ValueError("auth_scheme must be 'auto', 'oauth' or 'auth_n_auth'")
        if self.resolved_auth_scheme == "auth_n_auth" and not (
            self.app_id and self.dev_id and self.cert_id
        ):
            raise ValueError("an Auth'n'Auth token needs app_id, dev_id and cert_id")
        if self.endpoint is not None:
            _check_url(self.endpoint)

    @property
    def resolved_auth_scheme(self) -> Literal["oauth", "auth_n_auth"]:
        if self.auth_scheme != "auto":
            return self.auth_scheme
        return "auth_n_auth" if self.token.startswith(_AUTH_N_AUTH_PREFIX) else "oauth"

    @property
    def url(self) -> str:
        return self.endpoint or PRODUCTION_ENDPOINT

    @property
    def budget_key(self) -> str:
        """The call budget is per seller account; an account name is unique within its client."""
        return f"ebay/{self.client_id}/{self.account}"


def _check_url(url: str) -> None:
    # The config layer checks this too; a connector built by other code must not send a token
    # over plain http to anything but this machine either.
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or parts.query:
        raise ValueError("endpoint: no credentials or query string in the URL")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise ValueError("endpoint: expected https://, or http:// to a loopback address")


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
