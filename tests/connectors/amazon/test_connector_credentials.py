"""Credentials per account: LWA tokens never shared, restricted data tokens minted once."""

from __future__ import annotations

from collections.abc import Callable

import sp_api.auth.access_token_client as library_auth

from connectors.fakes import FakeSpApi, SellerSpec
from tests.connectors.amazon.helpers import SINCE, SteppingClock, connector, settings_at

Start = Callable[..., FakeSpApi]


def test_two_accounts_never_see_each_others_tokens_or_orders(fake_spapi: Start) -> None:
    acme = SellerSpec(name="acme", refresh_token="Atzr|acme", orders=7, seed=1)
    umbra = SellerSpec(name="umbra", refresh_token="Atzr|umbra", orders=9, seed=2)
    fake = fake_spapi(acme, umbra, enforce_plans=False)
    clock = SteppingClock()
    with (
        connector(settings_at(fake, "acme", account="acme-eu"), clock) as first,
        connector(settings_at(fake, "umbra", account="umbra-eu"), clock) as second,
    ):
        first_ids = {o.marketplace_order_id for p in first.pull(since=SINCE) for o in p.orders}
        second_ids = {o.marketplace_order_id for p in second.pull(since=SINCE) for o in p.orders}
        first_ids |= {o.marketplace_order_id for p in first.pull(since=SINCE) for o in p.orders}
        assert (first.lwa.fetch_count, second.lwa.fetch_count) == (1, 1)
    assert first_ids == {o.order_id for o in fake.orders("acme")}
    assert second_ids == {o.order_id for o in fake.orders("umbra")}
    assert {r.seller for r in fake.records() if r.operation == "orders.searchOrders"} == {
        "acme",
        "umbra",
    }
    # The library's process-wide token cache was never used.
    assert len(library_auth.cache) == 0


def test_same_refresh_token_against_two_servers_gets_two_tokens(fake_spapi: Start) -> None:
    """What the library's cache (keyed by refresh token alone) gets wrong across tests."""
    seller = SellerSpec(orders=3)
    one, two = fake_spapi(seller, enforce_plans=False), fake_spapi(seller, enforce_plans=False)
    clock = SteppingClock()
    for fake in (one, two):
        with connector(settings_at(fake), clock) as amazon:
            (page,) = list(amazon.pull(since=SINCE))
            assert len(page.orders) == 3
        assert fake.count("lwa.token") == 1
        assert fake.count("orders.searchOrders", status=403) == 0


def test_an_access_token_is_renewed_shortly_before_it_expires(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=3), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake), clock) as amazon:
        list(amazon.pull(since=SINCE))
        clock.sleep(3600 - 120)
        list(amazon.pull(since=SINCE))
        assert amazon.lwa.fetch_count == 1
        clock.sleep(90)  # now within a minute of expiry
        list(amazon.pull(since=SINCE))
        assert amazon.lwa.fetch_count == 2


def test_v0_mints_one_restricted_data_token_for_every_page_and_item(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=25, seed=3), enforce_plans=False)
    with connector(settings_at(fake, api="v0"), SteppingClock(), page_size=10) as amazon:
        pages = list(amazon.pull(since=SINCE))
        assert amazon.restricted_data_tokens_minted == 1
    assert fake.count("tokens.createRestrictedDataToken") == 1
    restricted = [r for r in fake.records() if r.operation.startswith("ordersV0.")]
    assert len(restricted) == 3 + 25
    assert {r.credential for r in restricted} == {"rdt"}
    orders = [o for p in pages for o in p.orders]
    # The token unlocked the PII: names and addresses are there for merchant-fulfilled orders.
    assert any(o.buyer and o.buyer.name for o in orders)
    assert any(o.shipping_address and o.shipping_address.line1 for o in orders)
    gifts = [
        i["fulfillment"]["packing"]["giftOption"]["giftMessage"]
        for o in fake.orders()
        for i in o.full["orderItems"]
        if "packing" in i["fulfillment"]
    ]
    assert gifts
    assert sorted(i.gift_message for o in orders for i in o.items if i.gift_message) == gifts


def test_v0_renews_the_restricted_data_token_shortly_before_it_expires(
    fake_spapi: Start,
) -> None:
    fake = fake_spapi(SellerSpec(orders=20, seed=4), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake, api="v0"), clock, page_size=10) as amazon:
        pages = amazon.pull(since=SINCE)
        next(pages)
        clock.sleep(3600 - 240)  # within five minutes of the hour
        next(pages)
        assert amazon.restricted_data_tokens_minted == 2


def test_v0_a_refused_restricted_data_token_is_replaced(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=5, seed=5), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake, api="v0"), clock) as amazon:
        list(amazon.pull(since=SINCE))
        for token, credential in list(fake.state._credentials.items()):
            if credential.kind == "rdt":  # Amazon revokes it early
                fake.state._credentials[token] = type(credential)(
                    credential.seller, "rdt", -1.0, credential.resources
                )
        (page,) = list(amazon.pull(since=SINCE))
        assert len(page.orders) == 5
        assert amazon.restricted_data_tokens_minted == 2
    assert fake.count("ordersV0.getOrders", status=403) == 1
