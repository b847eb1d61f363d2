"""The ebaysdk Trading connection and the account settings it is built from."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connectors.ebay import EbayAccountSettings
from connectors.ebay.connection import COMPATIBILITY_LEVEL, build_connection
from connectors.fakes.ebay_trading import DEFAULT_KEYS, EbayAccountSpec
from tests.connectors.ebay.conftest import StartFake
from tests.connectors.ebay.helpers import (
    AUTH_N_AUTH_TOKEN,
    OAUTH_TOKEN,
    SINCE,
    connector,
    settings_for,
)


def _prepared(settings: EbayAccountSettings) -> Any:
    connection = build_connection(settings, timeout_s=5)
    connection.build_request("GetOrders", {"OrderRole": "Seller <&>"}, None)
    return connection.request


def test_an_oauth_token_travels_in_the_iaf_header_and_never_in_the_body() -> None:
    request = _prepared(settings_for("https://api.ebay.com/ws/api.dll"))
    assert request.headers["X-EBAY-API-IAF-TOKEN"] == OAUTH_TOKEN
    assert b"RequesterCredentials" not in request.body
    assert request.url == "https://api.ebay.com/ws/api.dll"


def test_an_auth_n_auth_token_travels_escaped_in_the_body() -> None:
    token = AUTH_N_AUTH_TOKEN + "&<"  # a corrupted token must not break the document
    request = _prepared(settings_for("https://api.ebay.com/ws/api.dll", token=token))
    assert "X-EBAY-API-IAF-TOKEN" not in request.headers
    assert b"<eBayAuthToken>AgAAAA**" in request.body
    assert b"&amp;&lt;</eBayAuthToken>" in request.body


def test_request_values_are_escaped_and_every_header_is_a_string() -> None:
    request = _prepared(
        settings_for("https://api.ebay.com/ws/api.dll", app_id="", dev_id="", cert_id="")
    )
    assert b"<OrderRole>Seller &lt;&amp;&gt;</OrderRole>" in request.body
    assert all(isinstance(v, str) for v in request.headers.values())
    assert request.headers["X-EBAY-API-COMPATIBILITY-LEVEL"] == COMPATIBILITY_LEVEL
    assert int(COMPATIBILITY_LEVEL) >= 1400  # ebaysdk's default, 837, is long unsupported
    assert request.headers["X-EBAY-API-SITEID"] == "3"
    assert request.headers["X-EBAY-API-CALL-NAME"] == "GetOrders"


def test_https_is_turned_off_only_for_a_loopback_endpoint() -> None:
    secure = build_connection(settings_for("https://api.sandbox.ebay.com/ws/api.dll"), timeout_s=5)
    local = build_connection(settings_for("http://127.0.0.1:8702/ws/api.dll"), timeout_s=5)
    default = build_connection(settings_for("https://api.ebay.com"), timeout_s=5)
    assert secure.build_request_url("GetOrders") == "https://api.sandbox.ebay.com/ws/api.dll"
    assert local.build_request_url("GetOrders") == "http://127.0.0.1:8702/ws/api.dll"
    assert default.build_request_url("GetOrders") == "https://api.ebay.com/ws/api.dll"


def test_the_connection_reads_no_yaml_and_keeps_ebaysdk_quiet(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ebay.yaml").write_text("api.ebay.com:\n    appid: from-a-stray-file\n")
    monkeypatch.chdir(tmp_path)
    logging.getLogger("ebaysdk").setLevel(logging.DEBUG)
    connection = build_connection(settings_for("https://api.ebay.com/ws/api.dll"), timeout_s=7)
    assert connection.config.get("appid") == DEFAULT_KEYS["app_id"]
    assert connection.config.file() == []
    assert connection.timeout == 7
    assert logging.getLogger("ebaysdk").level == logging.WARNING


def test_the_fake_sees_the_headers_and_the_auth_it_requires(fake_ebay: StartFake) -> None:
    fake = fake_ebay(
        EbayAccountSpec(token=OAUTH_TOKEN, orders=3),
        EbayAccountSpec(token=AUTH_N_AUTH_TOKEN, orders=3, name="legacy"),
    )
    for token in (OAUTH_TOKEN, AUTH_N_AUTH_TOKEN):
        with connector(fake, token=token) as ebay:
            assert sum(len(p.orders) for p in ebay.pull(since=SINCE)) == 3
    assert {(r.account, r.auth, r.compatibility, r.status) for r in fake.records} == {
        ("seller", "iaf", COMPATIBILITY_LEVEL, 200),
        ("legacy", "auth_n_auth", COMPATIBILITY_LEVEL, 200),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"app_id": None}, "app_id must be a string"),
        ({"cert_id": None}, "cert_id must be a string"),
        ({"token": ""}, "token must be a non-empty string"),
        ({"endpoint": "http://api.ebay.com/ws/api.dll"}, "loopback"),
        ({"endpoint": "https://user:pw@api.ebay.com/ws/api.dll"}, "no credentials"),
        ({"site_id": "3"}, "site_id must be an integer"),
        ({"daily_call_budget": 0}, "at least 1"),
        ({"token": AUTH_N_AUTH_TOKEN, "dev_id": ""}, "needs app_id, dev_id and cert_id"),
        ({"auth_scheme": "basic"}, "auth_scheme"),
    ],
)
def test_settings_refuse_what_would_break_or_leak(changes: dict[str, Any], message: str) -> None:
    values = {"endpoint": "https://api.ebay.com/ws/api.dll"} | changes
    with pytest.raises(ValueError, match=message):
        settings_for(**values)


def test_settings_never_show_secrets() -> None:
    settings = settings_for("https://api.ebay.com/ws/api.dll")
    assert OAUTH_TOKEN not in repr(settings)
    assert DEFAULT_KEYS["cert_id"] not in repr(settings)
    assert settings.resolved_auth_scheme == "oauth"
    assert settings_for("http://localhost:1", token=AUTH_N_AUTH_TOKEN).resolved_auth_scheme == (
        "auth_n_auth"
    )
    forced = settings_for("http://[::1]:1", token=AUTH_N_AUTH_TOKEN, auth_scheme="oauth")
    assert forced.resolved_auth_scheme == "oauth"
