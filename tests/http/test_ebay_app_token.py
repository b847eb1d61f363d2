"""Application tokens for getPublicKey are minted from the app id and cert id and renewed."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from pipeline.http.ebay_app_token import RENEW_EARLY_S, AppTokenError, AppTokenSource
from pipeline.http.ebay_keys import EbayKeySettings, HttpKeyFetcher, load_ebay_key
from pipeline.secrets import Secret
from tests.http.ebay_fakes import APP_TOKEN, SigningKey, key_server

pytestmark = pytest.mark.anyio

APP_ID, CERT_ID = "synthetic-app-id", "synthetic-cert-id"


@dataclass
class OAuthServer:
    url: str
    requests: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def oauth_server(token: str = APP_TOKEN, lifetime_s: int = 7200) -> Iterator[OAuthServer]:
    """A loopback stand-in for eBay's OAuth token endpoint, recording what it was sent."""
    requests: list[dict[str, str]] = []
    expected = "Basic " + base64.b64encode(f"{APP_ID}:{CERT_ID}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            requests.append({k: v[0] for k, v in parse_qs(body).items()})
            ok = self.headers.get("Authorization") == expected
            payload = {"access_token": token, "expires_in": lifetime_s} if ok else {"error": "x"}
            data = json.dumps(payload).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield OAuthServer(f"http://127.0.0.1:{port}/identity/v1/oauth2/token", requests)
    finally:
        server.shutdown()
        server.server_close()


async def test_a_token_is_minted_once_and_renewed_before_it_expires() -> None:
    now = [1_000.0]
    with oauth_server(lifetime_s=7200) as oauth:
        source = AppTokenSource(
            Secret("env:A", APP_ID),
            Secret("env:C", CERT_ID),
            oauth_url=oauth.url,
            clock_s=lambda: now[0],
        )
        assert await source.token() == APP_TOKEN
        assert await source.token() == APP_TOKEN
        assert len(oauth.requests) == 1
        seen = oauth.requests[0]
        assert seen["grant_type"] == "client_credentials"
        assert seen["scope"] == "https://api.ebay.com/oauth/api_scope"
        now[0] += 7200 - RENEW_EARLY_S  # within a minute of expiry: renew
        await source.token()
        assert len(oauth.requests) == 2
        source.forget()  # eBay refused it
        await source.token()
        assert source.minted == 3


async def test_wrong_credentials_are_an_error_naming_no_secret() -> None:
    with oauth_server() as oauth:
        source = AppTokenSource(
            Secret("env:A", APP_ID),
            Secret("env:C", "wrong-cert"),
            oauth_url=oauth.url,
        )
        with pytest.raises(AppTokenError) as caught:
            await source.token()
    assert "401" in str(caught.value)
    assert "wrong-cert" not in str(caught.value)


async def test_get_public_key_uses_the_minted_token() -> None:
    key = SigningKey("kid-1")
    with oauth_server() as oauth, key_server(key) as keys:
        source = AppTokenSource(
            Secret("env:A", APP_ID),
            Secret("env:C", CERT_ID),
            oauth_url=oauth.url,
        )
        fetcher = HttpKeyFetcher(EbayKeySettings(public_key_url=keys.base_url, token_source=source))
        assert load_ebay_key(await fetcher("kid-1"))
    assert source.minted == 1
