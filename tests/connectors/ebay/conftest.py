"""Fixtures for the eBay connector tests: fake Trading API servers, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from connectors.fakes.ebay_trading import EbayAccountSpec, FakeEbayTrading
from tests.connectors.ebay.helpers import OAUTH_TOKEN

StartFake = Callable[..., FakeEbayTrading]


@pytest.fixture
def fake_ebay() -> Iterator[StartFake]:
    """`fake_ebay(EbayAccountSpec(...), ...)` -> a running fake; one OAuth account by default."""
    started: list[FakeEbayTrading] = []

    def start(*accounts: EbayAccountSpec) -> FakeEbayTrading:
        fake = FakeEbayTrading(accounts or (EbayAccountSpec(token=OAUTH_TOKEN),)).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()
