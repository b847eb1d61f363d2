"""Test helpers for the eBay connector: settings for a fake account, a clock, a connector."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.ebay import EbayAccountSettings, EbayConnector, InMemoryCallBudget, RetryPolicy
from connectors.ebay.budget import CallBudget
from connectors.fakes.ebay_trading import DEFAULT_KEYS, FakeEbayTrading

#: An OAuth user access token and an Auth'n'Auth token, both made up for the fake.
OAUTH_TOKEN = "v^1.1#i^1#p^3#r^1#I^3#f^0#t^fake-oauth-token-acme"
AUTH_N_AUTH_TOKEN = "AgAAAA**AQAAAA**aAAAAA**fake+auth/n/auth**token=="
#: After every synthetic order's last modification (they spread over Jan-Feb 2026).
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SINCE = datetime(2025, 12, 31, tzinfo=UTC)
NO_WAIT = RetryPolicy(attempts=5, base_delay_s=1.0, max_delay_s=8.0)


@dataclass
class SteppingClock:
    """Time that moves only when slept on: tests never really wait."""

    now_at: datetime = NOW
    sleeps_s: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.now_at

    def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_at += timedelta(seconds=seconds)


def settings_for(endpoint: str, token: str = OAUTH_TOKEN, **kwargs: Any) -> EbayAccountSettings:
    values: dict[str, Any] = {
        "client_id": "acme",
        "account": "acme-ebay",
        "site_id": 3,
        "token": token,
        "endpoint": endpoint,
        **DEFAULT_KEYS,
    }
    values.update(kwargs)
    return EbayAccountSettings(**values)


def connector(
    fake_or_url: FakeEbayTrading | str,
    *,
    clock: SteppingClock | None = None,
    budget: CallBudget | None = None,
    token: str = OAUTH_TOKEN,
    settings: dict[str, Any] | None = None,
    **kwargs: Any,
) -> EbayConnector:
    url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.url
    clock = clock or SteppingClock()
    kwargs.setdefault("retry", NO_WAIT)
    return EbayConnector(
        settings_for(url, token, **(settings or {})),
        budget=budget or InMemoryCallBudget(),
        clock=clock.now,
        sleep=clock.sleep,
        **kwargs,
    )
