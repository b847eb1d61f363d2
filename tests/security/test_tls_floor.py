"""TLS 1.2 is the floor for every HTTPS connection ordervault makes (issue 8, DPP 1.5).

Each outbound client, built the way the product builds it, is pointed at a server that speaks
only TLS 1.0 and 1.1: the call must fail, and the server must record that the client offered
nothing older than TLS 1.2 (not that the handshake got as far as the certificate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.amazon import RetryPolicy, SpApiError
from connectors.ebay import EbayError
from connectors.fakes import FakeSpApi, SellerSpec
from crypto.errors import RootKeyError
from crypto.roots.aws_kms import AwsKmsRootKey
from pipeline.destinations import TransportError, Webhook
from pipeline.http.ebay_app_token import AppTokenError, AppTokenSource
from pipeline.http.ebay_keys import EbayKeySettings, HttpKeyFetcher, KeyUnavailableError
from pipeline.secrets import Secret
from tests.connectors.amazon import helpers as amazon
from tests.connectors.ebay import helpers as ebay
from tests.destinations.conftest import outgoing, webhook_config
from tests.security.old_tls import REFUSED_BY_CLIENT, OldTlsServer


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[OldTlsServer]:
    with OldTlsServer(tmp_path / "old-tls") as server:
        if not server.speaks_old_tls():
            pytest.skip("this OpenSSL build cannot speak TLS 1.1 even when asked to")
        yield server


def assert_refused_by_client(server: OldTlsServer) -> None:
    outcomes = server.outcomes()
    assert outcomes
    assert set(outcomes) == {REFUSED_BY_CLIENT}, outcomes


def test_the_webhook_refuses_a_tls_1_1_server(tmp_path: Path, old_server: OldTlsServer) -> None:
    config = webhook_config(tmp_path, f"{old_server.url}/orders", insecure_loopback=True)
    with Webhook(config) as destination, pytest.raises(TransportError) as caught:
        destination.send([outgoing()])
    assert "TLS" in caught.value.message
    assert_refused_by_client(old_server)


def test_amazon_lwa_refuses_a_tls_1_1_server(old_server: OldTlsServer) -> None:
    settings = amazon.settings_for(
        SellerSpec(), endpoint=old_server.url, lwa_endpoint=f"{old_server.url}/auth/o2/token"
    )
    connector = amazon.connector(settings, amazon.SteppingClock())
    with pytest.raises(SpApiError, match="connection failed"):
        connector.lwa.refresh()
    assert_refused_by_client(old_server)


def test_the_sp_api_clients_refuse_a_tls_1_1_server(old_server: OldTlsServer) -> None:
    # LWA at the fake (plain http on loopback) hands out a token; the SP-API call then goes to
    # the old server through python-amazon-sp-api's own HTTP client.
    seller = SellerSpec()
    with FakeSpApi([seller]) as fake:
        settings = amazon.settings_for(seller, endpoint=old_server.url, lwa_endpoint=fake.lwa_url)
        clock = amazon.SteppingClock()
        connector = amazon.connector(
            settings, clock, retry=RetryPolicy(max_attempts=2, base_delay_s=1.0)
        )
        with pytest.raises(SpApiError):
            list(connector.pull(since=amazon.SINCE))
    assert_refused_by_client(old_server)


def test_the_ebay_trading_connection_refuses_a_tls_1_1_server(old_server: OldTlsServer) -> None:
    connector = ebay.connector(f"{old_server.url}/ws/api.dll")
    with connector, pytest.raises(EbayError):
        list(connector.pull(since=ebay.SINCE))
    assert_refused_by_client(old_server)


def test_ebay_get_public_key_refuses_a_tls_1_1_server(old_server: OldTlsServer) -> None:
    fetcher = HttpKeyFetcher(
        EbayKeySettings(
            app_token=Secret("env:EBAY_APP_TOKEN", "app-token"),
            public_key_url=f"{old_server.url}/commerce/notification/v1/public_key",
        )
    )
    with pytest.raises(KeyUnavailableError, match="getPublicKey failed"):
        asyncio.run(fetcher("kid-1"))
    assert_refused_by_client(old_server)


def test_ebay_application_tokens_refuse_a_tls_1_1_server(old_server: OldTlsServer) -> None:
    source = AppTokenSource(
        app_id=Secret("env:EBAY_APP_ID", "app-id"),
        cert_id=Secret("env:EBAY_CERT_ID", "cert-id"),
        oauth_url=f"{old_server.url}/identity/v1/oauth2/token",
    )
    with pytest.raises(AppTokenError, match="OAuth failed"):
        asyncio.run(source.token())
    assert_refused_by_client(old_server)


def test_aws_kms_refuses_a_tls_1_1_server(
    old_server: OldTlsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Credentials of no account, and no config file: botocore must get as far as connecting.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(RootKeyError):
        AwsKmsRootKey("alias/ordervault", region="eu-west-1", endpoint_url=old_server.url)
    assert_refused_by_client(old_server)
