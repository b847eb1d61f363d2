"""eBay application access tokens for getPublicKey, minted and renewed by ourselves.

eBay application tokens (OAuth client-credentials grant) live about two hours, so a token put
in a config file would stop notification verification soon after start-up. The app id and cert
id mint one on demand; it is reused until a minute before it expires, and dropped at once when
eBay refuses it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from pipeline.secrets import Secret

__all__ = ["DEFAULT_OAUTH_URL", "AppTokenError", "AppTokenSource"]

DEFAULT_OAUTH_URL = "https://api.ebay.com/identity/v1/oauth2/token"
API_SCOPE = "https://api.ebay.com/oauth/api_scope"
#: Renew this long before eBay's stated expiry, so no request goes out with a dying token.
RENEW_EARLY_S = 60.0


class AppTokenError(Exception):
    """No application token could be had now (network, credentials, eBay down)."""


@dataclass
class AppTokenSource:
    app_id: Secret
    cert_id: Secret
    oauth_url: str = DEFAULT_OAUTH_URL
    timeout_s: float = 10.0
    clock_s: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._token: str | None = None
        self._expires_at_s = 0.0
        self._lock = asyncio.Lock()
        self.minted = 0

    def forget(self) -> None:
        """eBay refused the current token: the next call mints a new one."""
        self._token = None

    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and self.clock_s() < self._expires_at_s:
                return self._token
            self._token, lifetime_s = await self._mint()
            self._expires_at_s = self.clock_s() + max(0.0, lifetime_s - RENEW_EARLY_S)
            self.minted += 1
            return self._token

    async def _mint(self) -> tuple[str, float]:
        basic = base64.b64encode(
            f"{self.app_id.reveal()}:{self.cert_id.reveal()}".encode()
        ).decode()
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(
                    self.oauth_url,
                    headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                    data={"grant_type": "client_credentials", "scope": API_SCOPE},
                )
        except httpx.HTTPError as exc:
            raise AppTokenError(f"eBay OAuth failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise AppTokenError(f"eBay OAuth answered {response.status_code}")
        try:
            document = response.json()
            token = document["access_token"]
            lifetime_s = float(document.get("expires_in", 7200))
        except (ValueError, KeyError, TypeError):
            raise AppTokenError("eBay OAuth answered without an access token") from None
        if not isinstance(token, str) or not token:
            raise AppTokenError("eBay OAuth answered without an access token")
        return token, lifetime_s
