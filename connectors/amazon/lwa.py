"""Login with Amazon access tokens, cached per seller account and nowhere else.

python-amazon-sp-api keeps access tokens in a module-level cache keyed by the refresh token
alone, for a fixed 3200 s whatever the token's real lifetime, shared by every client in the
process. Two accounts (or two tests) can then meet each other's tokens, and a token can be used
after it expired. `LwaTokens` replaces the library's token client: one instance per connector,
expiry from `expires_in` on the injected clock, and it talks to the account's `lwa_endpoint`.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
from sp_api.auth import AccessTokenResponse

from connectors.amazon.errors import SpApiError, check_response
from connectors.amazon.lifetimes import accepted_lifetime_s, renew_at
from connectors.amazon.settings import AmazonAccountSettings
from connectors.ratelimit.base import Clock

__all__ = ["LwaTokens"]

# Renew this long before Amazon's stated expiry, so a token never expires in flight.
_REFRESH_MARGIN = timedelta(seconds=60)


class LwaTokens:
    def __init__(self, settings: AmazonAccountSettings, *, clock: Clock, http: httpx.Client):
        self._settings = settings
        self._clock = clock
        self._http = http
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: datetime | None = None
        self.fetch_count = 0

    def needs_refresh(self) -> bool:
        with self._lock:
            return self._token is None or self._renew_at is None or self._clock() >= self._renew_at

    def refresh(self) -> None:
        """Fetch a new access token; raise `SpApiError` (retryable or not) on failure."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._settings.refresh_token,
            "client_id": self._settings.lwa_client_id,
            "client_secret": self._settings.lwa_client_secret,
        }
        try:
            response = self._http.post(self._settings.lwa_url, data=form)
        except httpx.TimeoutException:
            raise SpApiError("lwa.token: timed out", retryable=True) from None
        except httpx.TransportError:
            raise SpApiError("lwa.token: connection failed", retryable=True) from None
        document = check_response("lwa.token", response.status_code, response.content, {})
        token = document.get("access_token")
        lifetime_s = accepted_lifetime_s(document.get("expires_in"))
        if not isinstance(token, str) or not token or lifetime_s is None:
            raise SpApiError("lwa.token: response without access_token/expires_in", retryable=True)
        with self._lock:
            self._token = token
            self._renew_at = renew_at(self._clock(), lifetime_s, _REFRESH_MARGIN)
            self.fetch_count += 1

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._renew_at = None

    def access_token(self) -> str:
        if self.needs_refresh():
            self.refresh()
        with self._lock:
            assert self._token is not None
            return self._token

    # -- python-amazon-sp-api's token-client interface ------------------------------------

    def get_auth(self) -> Any:
        return AccessTokenResponse(access_token=self.access_token())

    def library_factory(self, **_ignored: Any) -> LwaTokens:
        """Passed as `auth_token_client_class`: every client of the account shares this one."""
        return self
