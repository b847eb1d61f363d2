"""eBay's notification signing keys: fetched by key id from the Notification API, cached.

`getPublicKey` (`GET {public_key_url}/{kid}` with an application OAuth token) answers
`{"algorithm": "ECDSA", "digest": "SHA1", "key": "-----BEGIN PUBLIC KEY-----..."}`; the key
text often lacks the line breaks PEM wants, so it is read by its base64 body. Keys are cached
per id for `ttl_s` (eBay's SDKs cache them too), so a burst of notifications costs one call.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pipeline.http.ebay_app_token import AppTokenError, AppTokenSource
from pipeline.secrets import Secret

__all__ = [
    "DEFAULT_PUBLIC_KEY_URL",
    "EbayKeySettings",
    "HttpKeyFetcher",
    "KeyFetcher",
    "KeyUnavailableError",
    "PublicKeyCache",
    "UnknownKeyError",
    "load_ebay_key",
    "valid_key_id",
]

DEFAULT_PUBLIC_KEY_URL = "https://api.ebay.com/commerce/notification/v1/public_key"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_PEM_MARKERS = re.compile(r"-----(BEGIN|END) PUBLIC KEY-----")


class UnknownKeyError(Exception):
    """eBay has no usable key by that id: a signature made with it cannot be trusted."""


class KeyUnavailableError(Exception):
    """The key could not be fetched now (network, token, eBay down); retrying may help."""


@dataclass(frozen=True)
class EbayKeySettings:
    """Where the signing keys come from: `public_key_url`, called with an application token.

    The token is minted from the app id and cert id (`token_source`, renewed as it expires), or
    a fixed `app_token` (tests, or a token managed elsewhere).
    """

    app_token: Secret | None = None
    public_key_url: str = DEFAULT_PUBLIC_KEY_URL
    token_source: AppTokenSource | None = None
    ttl_s: float = 3600.0
    timeout_s: float = 10.0


def valid_key_id(value: object) -> bool:
    return isinstance(value, str) and _KEY_ID.fullmatch(value) is not None


def load_ebay_key(text: str) -> ec.EllipticCurvePublicKey:
    """The EC public key in eBay's key text (PEM, with or without line breaks)."""
    body = "".join(_PEM_MARKERS.sub("", text).split())
    try:
        key = load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise UnknownKeyError("eBay's key text is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnknownKeyError("eBay's key is not an elliptic-curve key")
    return key


# kid -> eBay's key text; raises UnknownKeyError or KeyUnavailableError.
KeyFetcher = Callable[[str], Awaitable[str]]


class HttpKeyFetcher:
    """Calls the Notification API's `getPublicKey` with the application token."""

    def __init__(self, settings: EbayKeySettings) -> None:
        self._settings = settings

    async def _bearer(self) -> str:
        if self._settings.token_source is not None:
            try:
                return await self._settings.token_source.token()
            except AppTokenError as exc:
                raise KeyUnavailableError(str(exc)) from None
        if self._settings.app_token is None:
            raise KeyUnavailableError("no eBay application token is configured")
        return self._settings.app_token.reveal()

    async def __call__(self, kid: str) -> str:
        url = f"{self._settings.public_key_url.rstrip('/')}/{quote(kid, safe='')}"
        headers = {"Authorization": f"Bearer {await self._bearer()}", "Accept": "application/json"}
        try:
            # A client per call: keys are cached for an hour, so calls are rare, and nothing
            # outlives the event loop that made it.
            async with httpx.AsyncClient(timeout=self._settings.timeout_s) as client:
                response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise KeyUnavailableError(f"getPublicKey failed: {type(exc).__name__}") from None
        if response.status_code == 401 and self._settings.token_source is not None:
            self._settings.token_source.forget()  # refused: the next call mints a new one
        if response.status_code in (400, 404):
            raise UnknownKeyError(f"getPublicKey answered {response.status_code}")
        if response.status_code != 200:
            raise KeyUnavailableError(f"getPublicKey answered {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise KeyUnavailableError(
                "getPublicKey answered with something other than JSON"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("key"), str):
            raise KeyUnavailableError("getPublicKey answered without a key")
        algorithm = str(document.get("algorithm", "")).upper()
        digest = str(document.get("digest", "")).upper()
        if (algorithm, digest) != ("ECDSA", "SHA1"):
            raise UnknownKeyError(f"unsupported key algorithm {algorithm}/{digest}")
        return str(document["key"])


@dataclass
class PublicKeyCache:
    """Keys by id, each kept `ttl_s` seconds from its fetch; bounded, oldest dropped first."""

    fetch: KeyFetcher
    ttl_s: float
    clock_s: Callable[[], float]
    max_keys: int = 100
    _keys: OrderedDict[str, tuple[float, ec.EllipticCurvePublicKey]] = field(
        default_factory=OrderedDict
    )

    async def get(self, kid: str) -> ec.EllipticCurvePublicKey:
        if not valid_key_id(kid):
            raise UnknownKeyError("malformed key id")
        now_s = self.clock_s()
        cached = self._keys.get(kid)
        if cached is not None and now_s - cached[0] < self.ttl_s:
            return cached[1]
        # Failures are not cached: an unknown id costs one call per notification naming it.
        key = load_ebay_key(await self.fetch(kid))
        self._keys[kid] = (now_s, key)
        self._keys.move_to_end(kid)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return key
