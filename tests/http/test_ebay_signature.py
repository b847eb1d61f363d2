"""X-EBAY-SIGNATURE parsing and checking, and the signing-key cache (no database)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.http.ebay_keys import (
    EbayKeySettings,
    HttpKeyFetcher,
    KeyUnavailableError,
    PublicKeyCache,
    UnknownKeyError,
    load_ebay_key,
)
from pipeline.http.ebay_signature import Rejection, SignatureError, SignatureHeader, verify
from pipeline.secrets import Secret
from tests.http.ebay_fakes import APP_TOKEN, SigningKey, key_server, notification

pytestmark = pytest.mark.anyio

KEY = SigningKey("kid-1")


class CountingFetcher:
    def __init__(self, *keys: SigningKey) -> None:
        self.keys = {key.kid: key for key in keys}
        self.calls: list[str] = []

    async def __call__(self, kid: str) -> str:
        self.calls.append(kid)
        if kid not in self.keys:
            raise UnknownKeyError("no such key")
        return self.keys[kid].key_text()


def header(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_key_text_without_line_breaks_loads() -> None:
    text = KEY.key_text()
    assert "\n" not in text
    assert load_ebay_key(text).public_numbers() == KEY.private.public_key().public_numbers()
    with pytest.raises(UnknownKeyError):
        load_ebay_key("-----BEGIN PUBLIC KEY-----bm90IGEga2V5-----END PUBLIC KEY-----")


@pytest.mark.parametrize(
    "value",
    [
        "%%%",
        header(["not", "an", "object"]),
        header({"alg": "RSA", "kid": "kid-1", "signature": "AAAA", "digest": "SHA1"}),
        header({"alg": "ECDSA", "kid": "kid-1", "signature": "AAAA", "digest": "SHA256"}),
        header({"alg": "ECDSA", "kid": "../../x", "signature": "AAAA", "digest": "SHA1"}),
        header({"alg": "ECDSA", "kid": "kid-1", "signature": "not base64!", "digest": "SHA1"}),
        header({"alg": "ECDSA", "kid": "kid-1", "digest": "SHA1"}),
    ],
)
def test_malformed_headers_are_refused(value: str) -> None:
    with pytest.raises(SignatureError) as caught:
        SignatureHeader.parse(value)
    assert caught.value.rejection is Rejection.MALFORMED


async def test_signature_over_the_raw_body_or_its_compact_form_verifies() -> None:
    keys = PublicKeyCache(CountingFetcher(KEY), ttl_s=60, clock_s=lambda: 0.0)
    body = notification("n-1", username="u")
    assert await verify(KEY.sign(body), body, keys) == "kid-1"
    # eBay's SDKs check the re-serialised JSON: a body re-spaced in transit still verifies.
    spaced = json.dumps(json.loads(body), indent=2).encode()
    assert await verify(KEY.sign(body), spaced, keys) == "kid-1"
    with pytest.raises(SignatureError) as caught:
        await verify(KEY.sign(body), body.replace(b'"u"', b'"v"'), keys)
    assert caught.value.rejection is Rejection.BAD_SIGNATURE


async def test_keys_are_cached_for_their_ttl_and_failures_are_not() -> None:
    now = [1000.0]
    fetcher = CountingFetcher(KEY)
    keys = PublicKeyCache(fetcher, ttl_s=3600, clock_s=lambda: now[0])
    first = await keys.get("kid-1")
    now[0] += 3599
    assert await keys.get("kid-1") is first
    assert fetcher.calls == ["kid-1"]
    now[0] += 2
    await keys.get("kid-1")
    assert fetcher.calls == ["kid-1", "kid-1"]
    for _ in range(2):
        with pytest.raises(UnknownKeyError):
            await keys.get("kid-2")
    assert fetcher.calls.count("kid-2") == 2


async def test_http_fetcher_calls_get_public_key_with_the_app_token() -> None:
    with key_server(KEY) as server:
        good = HttpKeyFetcher(
            EbayKeySettings(app_token=Secret("env:T", APP_TOKEN), public_key_url=server.base_url)
        )
        key = load_ebay_key(await good("kid-1"))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        with pytest.raises(UnknownKeyError):
            await good("kid-404")
        revoked = HttpKeyFetcher(
            EbayKeySettings(app_token=Secret("env:T", "revoked"), public_key_url=server.base_url)
        )
        with pytest.raises(KeyUnavailableError):
            await revoked("kid-1")
        assert server.lookups == ["kid-1", "kid-404", "kid-1"]
    # Nobody listens any more: unavailable, not unknown.
    with pytest.raises(KeyUnavailableError):
        await good("kid-1")
