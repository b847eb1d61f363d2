"""Account settings: endpoints checked, secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.amazon import AmazonAccountSettings

BASE: dict[str, Any] = {
    "client_id": "acme",
    "account": "acme-eu",
    "region": "eu",
    "marketplace_ids": ["A1PA6795UKMFR9"],
    "refresh_token": "Atzr|not-to-be-seen",
    "lwa_client_id": "amzn1.application-oa2-client.x",
    "lwa_client_secret": "also-not-to-be-seen",
}


def test_defaults_follow_the_region_and_secrets_stay_out_of_repr() -> None:
    settings = AmazonAccountSettings(**BASE)
    assert settings.sp_api_url == "https://sellingpartnerapi-eu.amazon.com"
    assert settings.lwa_url == "https://api.amazon.com/auth/o2/token"
    assert settings.orders_api == "2026-01-01"
    assert settings.marketplace_ids == ("A1PA6795UKMFR9",)
    shown = repr(settings)
    assert "not-to-be-seen" not in shown
    assert "amzn1.application" not in shown


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8701", "http://localhost:8701", "http://[::1]:8701", "https://sp.example"],
)
def test_https_anywhere_and_plain_http_only_on_loopback(endpoint: str) -> None:
    settings = AmazonAccountSettings(**BASE, endpoint=endpoint, lwa_endpoint=endpoint + "/t")
    assert settings.sp_api_url == endpoint


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("endpoint", "http://sellingpartnerapi-eu.amazon.com"),
        ("lwa_endpoint", "http://10.0.0.8/auth/o2/token"),
        ("endpoint", "ftp://127.0.0.1"),
        ("region", "moon"),
        ("orders_api", "v1"),
        ("marketplace_ids", []),
        ("refresh_token", ""),
    ],
)
def test_bad_settings_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        AmazonAccountSettings(**{**BASE, field: value})
