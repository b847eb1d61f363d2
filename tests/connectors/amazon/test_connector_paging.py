"""Paging, resuming after a kill, cursors and windows, quarantine within a page."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from connectors.amazon import DEFAULT_OVERLAP, Page
from connectors.errors import ConnectorError
from connectors.fakes import FakeSpApi, SellerSpec
from tests.connectors.amazon.helpers import SINCE, SteppingClock, connector, settings_at

Start = Callable[..., FakeSpApi]
SEARCH = "orders.searchOrders"


def _ids(pages: list[Page]) -> list[str]:
    return [o.marketplace_order_id for p in pages for o in p.orders] + [
        q.marketplace_order_id or "?" for p in pages for q in p.quarantined
    ]


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
def test_a_pull_walks_every_page_once(fake_spapi: Start, api: str) -> None:
    fake = fake_spapi(SellerSpec(orders=45, seed=1), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake, api=api), clock, page_size=10) as amazon:
        pages = list(amazon.pull(since=SINCE))
    assert len(pages) == 5
    assert [p.done for p in pages] == [False] * 4 + [True]
    assert sorted(_ids(pages)) == sorted(o.order_id for o in fake.orders())
    assert all(p.position_at == SINCE for p in pages[:-1])
    assert pages[-1].position_at == datetime(2026, 2, 28, 23, 57, tzinfo=UTC)  # now - 3 min
    assert pages[-1].state["token"] is None
    assert pages[0].state["token"]
    if api == "v0":
        assert all(o.items for p in pages for o in p.orders)
        assert fake.count("ordersV0.getOrderItems") == 45


def test_pages_stream_one_request_at_a_time(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=30), enforce_plans=False)
    with connector(settings_at(fake), SteppingClock(), page_size=10) as amazon:
        pages = amazon.pull(since=SINCE)
        next(pages)
        assert fake.count(SEARCH) == 1
        next(pages)
        assert fake.count(SEARCH) == 2


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
def test_resuming_a_killed_pull_continues_after_the_last_saved_page(
    fake_spapi: Start, api: str
) -> None:
    fake = fake_spapi(SellerSpec(orders=35, seed=3), enforce_plans=False)
    clock = SteppingClock()
    settings = settings_at(fake, api=api)
    with connector(settings, clock, page_size=10) as first:
        pages = first.pull(since=SINCE)
        stored = [next(pages), next(pages)]  # then the worker is killed
    saved = stored[-1].state
    clock.sleep(3600)
    with connector(settings, clock, page_size=10) as second:
        rest = list(second.pull(saved))
    ids = _ids(stored + rest)
    assert len(ids) == len(set(ids)) == 35  # nothing lost, nothing twice
    assert rest[-1].done


def test_a_token_older_than_a_day_restarts_the_window(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=25, seed=4), enforce_plans=False)
    clock = SteppingClock()
    settings = settings_at(fake)
    with connector(settings, clock, page_size=10) as amazon:
        saved = next(amazon.pull(since=SINCE)).state
    clock.sleep(timedelta(hours=24).total_seconds())
    with connector(settings, clock, page_size=10) as amazon:
        again = list(amazon.pull(saved))
    assert len(_ids(again)) == 25  # the whole window, duplicates are no-ops in storage
    assert again[0].state["after"] == saved["after"]
    assert again[0].state["before"] == saved["before"]


def test_a_token_amazon_refuses_restarts_the_window_once(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=15, seed=4), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake), clock, page_size=10) as amazon:
        saved = next(amazon.pull(since=SINCE)).state
        pages = list(amazon.pull({**saved, "token": "forgotten-by-amazon"}))
    assert len(_ids(pages)) == 15
    assert fake.count(SEARCH, status=400) == 1


def test_the_next_pull_starts_an_overlap_before_the_last_window_ended(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=20, seed=5), enforce_plans=False)
    clock = SteppingClock()
    settings = settings_at(fake)
    with connector(settings, clock) as amazon:
        first = list(amazon.pull(since=SINCE))
    end = first[-1].position_at
    assert end is not None
    # One order changes after the first window closed; the next pull must see it.
    changed = fake.orders()[0]
    later = end + timedelta(minutes=10)
    fake.orders()[0] = dataclasses.replace(changed, updated_at=later)
    changed.full["lastUpdatedTime"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.sleep(timedelta(minutes=15).total_seconds())
    with connector(settings, clock) as amazon:
        second = list(amazon.pull(first[-1].state))
    assert second[0].state["after"] == (end - DEFAULT_OVERLAP).isoformat()
    assert _ids(second) == [changed.order_id]
    assert second[-1].position_at == end + timedelta(minutes=15)


def test_an_empty_window_yields_no_page_and_a_done_backfill_nothing(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=10), enforce_plans=False)
    clock = SteppingClock()
    with connector(settings_at(fake), clock) as amazon:
        assert list(amazon.pull(since=clock.now())) == []
        pages = list(amazon.backfill(created_after=SINCE))
        assert pages[-1].done
        assert list(amazon.backfill(created_after=SINCE, state=pages[-1].state)) == []
        with pytest.raises(ConnectorError, match="backfill, not a pull"):
            list(amazon.pull(pages[-1].state))
        with pytest.raises(ConnectorError, match="needs `since`"):
            list(amazon.pull())


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
def test_a_backfill_selects_by_creation_time(fake_spapi: Start, api: str) -> None:
    fake = fake_spapi(SellerSpec(orders=40, seed=6), enforce_plans=False)
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC)
    with connector(settings_at(fake, api=api), SteppingClock(), page_size=10) as amazon:
        pages = list(amazon.backfill(created_after=start, created_before=end))
    expected = {o.order_id for o in fake.orders() if start <= o.created_at <= end}
    assert expected
    assert set(_ids(pages)) == expected
    assert pages[-1].state["stream"] == "backfill"


def test_a_payload_failing_validation_is_quarantined_and_the_page_goes_on(
    fake_spapi: Start,
) -> None:
    # The fake checks its own payloads against the schema; this one must break it.
    fake = fake_spapi(SellerSpec(orders=20, seed=7), enforce_plans=False, validate_responses=False)
    with_address = [o for o in fake.orders() if "recipient" in o.full]
    with_address[0].full["recipient"]["deliveryAddress"]["countryCode"] = "Deutschland"
    with_address[1].full["orderItems"][0]["quantityOrdered"] = "two"
    with connector(settings_at(fake), SteppingClock()) as amazon:
        (page,) = list(amazon.pull(since=SINCE))
    assert len(page.orders) == 18
    by_id = {q.marketplace_order_id: q for q in page.quarantined}
    assert by_id[with_address[0].order_id].field == "shipping_address.country_code"
    assert by_id[with_address[1].order_id].field == "orderItems[0].quantityOrdered"
    name = with_address[0].full["recipient"]["deliveryAddress"]["name"]
    assert all(name not in q.reason and name not in q.field for q in page.quarantined)
    assert page.done


def test_v0_an_order_whose_items_are_gone_is_quarantined(
    fake_spapi: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_spapi(SellerSpec(orders=6, seed=8), enforce_plans=False)
    gone = fake.orders()[2].order_id
    original = fake.app.handlers.get_order_items_v0

    def items(seller: str, order_id: str, elements: frozenset[str]):  # type: ignore[no-untyped-def]
        if order_id == gone:
            return original(seller, "no-such-order", elements)
        return original(seller, order_id, elements)

    monkeypatch.setattr(fake.app.handlers, "get_order_items_v0", items)
    with connector(settings_at(fake, api="v0"), SteppingClock()) as amazon:
        (page,) = list(amazon.pull(since=SINCE))
    assert len(page.orders) == 5
    (item,) = page.quarantined
    assert (item.marketplace_order_id, item.field) == (gone, "orderItems")
    assert item.reason == "payload: order items not retrievable (HTTP 404)"
