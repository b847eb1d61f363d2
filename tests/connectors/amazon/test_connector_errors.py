"""Throttling, server errors, bodies the library mistakes for success, timeouts, credentials."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from connectors.amazon import RetryPolicy, SpApiError
from connectors.errors import ConnectorError
from connectors.fakes import FakeSpApi, FaultKind, SellerSpec
from tests.connectors.amazon.helpers import SINCE, SteppingClock, connector, settings_at

Start = Callable[..., FakeSpApi]
SEARCH = "orders.searchOrders"
SEARCH_INTERVAL_S = 1 / 0.0056


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.THROTTLE,
        FaultKind.THROTTLE_EMPTY,
        FaultKind.SERVER_ERROR,
        FaultKind.HTML_503,
        FaultKind.TRUNCATED,
    ],
)
def test_transient_failures_are_retried_with_backoff(fake_spapi: Start, kind: FaultKind) -> None:
    fake = fake_spapi(SellerSpec(orders=12, seed=1), enforce_plans=False)
    fake.faults.inject(kind, operation=SEARCH, times=2)
    clock = SteppingClock()
    with connector(settings_at(fake), clock) as amazon:
        (page,) = list(amazon.pull(since=SINCE))
    assert len(page.orders) == 12  # nothing was taken for an empty page
    assert fake.count(SEARCH) == 3
    first, second = clock.sleeps_s
    assert second > first  # exponential
    if kind in (FaultKind.THROTTLE, FaultKind.THROTTLE_EMPTY):
        # Amazon's bucket is empty: no retry before one request interval of the plan.
        assert first >= SEARCH_INTERVAL_S
    else:
        assert 1.0 <= first <= 1.5


def test_timeouts_are_retried(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=5), enforce_plans=False)
    fake.faults.inject(FaultKind.SLOW, operation=SEARCH, delay_s=0.6)
    clock = SteppingClock()
    with connector(settings_at(fake), clock, timeout_s=0.15) as amazon:
        (page,) = list(amazon.pull(since=SINCE))
    assert len(page.orders) == 5
    assert len(clock.sleeps_s) == 1


def test_giving_up_raises_a_retryable_error_without_pii(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=5), enforce_plans=False)
    fake.faults.inject(FaultKind.HTML_503, operation=SEARCH, times=10)
    clock = SteppingClock()
    amazon = connector(settings_at(fake), clock, retry=RetryPolicy(max_attempts=3))
    with amazon, pytest.raises(ConnectorError) as raised:
        list(amazon.pull(since=SINCE))
    assert raised.value.retryable
    assert str(raised.value) == (
        "orders.searchOrders: HTTP 503, no JSON error body (gave up after 3 attempts)"
    )
    assert fake.count(SEARCH) == 3


def test_wrong_lwa_credentials_fail_at_once_and_say_so_without_the_secret(
    fake_spapi: Start,
) -> None:
    fake = fake_spapi(SellerSpec(orders=5))
    settings = settings_at(fake)
    wrong = type(settings)(**{**settings.__dict__, "lwa_client_secret": "s3cr3t-value"})
    with connector(wrong, SteppingClock()) as amazon, pytest.raises(SpApiError) as raised:
        list(amazon.pull(since=SINCE))
    assert not raised.value.retryable
    assert str(raised.value) == "lwa.token: HTTP 401 (invalid_client)"
    assert "s3cr3t" not in repr(raised.value)
    assert "s3cr3t" not in repr(wrong)
    assert fake.count(SEARCH) == 0


def test_an_access_token_amazon_expired_early_is_renewed_once(fake_spapi: Start) -> None:
    # The fake's 600 s pass in 0.6 real seconds; the client's clock stands still and trusts
    # its token, as a client would whose clock is behind Amazon's.
    fake = fake_spapi(
        SellerSpec(orders=5), enforce_plans=False, time_scale=1000, token_lifetime_s=600
    )
    clock = SteppingClock()
    with connector(settings_at(fake), clock) as amazon:
        list(amazon.pull(since=SINCE))
        time.sleep(0.7)
        list(amazon.pull(since=SINCE))
        assert amazon.lwa.fetch_count == 2
    assert fake.count(SEARCH, status=403) == 1
    assert fake.count("lwa.token") == 2


def test_the_library_alone_would_take_an_html_503_for_an_empty_success(
    fake_spapi: Start,
) -> None:
    """Why `check_response` exists: python-amazon-sp-api raises nothing here."""
    from sp_api.api.orders.orders_2026_01_01 import OrdersV20260101
    from sp_api.base import Marketplaces

    fake = fake_spapi(SellerSpec(orders=5), enforce_plans=False)
    seller = fake.seller()
    fake.faults.inject(FaultKind.HTML_503, operation=SEARCH)
    amazon = connector(settings_at(fake), SteppingClock())
    client = OrdersV20260101(
        Marketplaces.DE,
        credentials={
            "refresh_token": seller.refresh_token,
            "lwa_app_id": seller.lwa_client_id,
            "lwa_client_secret": seller.lwa_client_secret,
        },
        auth_token_client_class=amazon.lwa.library_factory,
    )
    client.endpoint = fake.url
    try:
        response = client.search_orders(lastUpdatedAfter="2025-12-01T00:00:00Z")
        assert response.payload == {}  # no exception: an outage looks like "no orders"
    finally:
        client.close()
        amazon.close()
