"""Windows and pages against the fake Trading API: every order once, resumable, cursors."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from connectors.classify import split
from connectors.ebay import DEFAULT_OVERLAP, Page
from connectors.errors import ConnectorError
from connectors.fakes.ebay_trading import EbayAccountSpec, FakeEbayTrading
from tests.connectors.ebay.conftest import StartFake
from tests.connectors.ebay.helpers import (
    AUTH_N_AUTH_TOKEN,
    NOW,
    OAUTH_TOKEN,
    SINCE,
    SteppingClock,
    connector,
)


def _ids(pages: list[Page]) -> list[str]:
    return [o.marketplace_order_id for p in pages for o in p.orders] + [
        q.marketplace_order_id or "?" for p in pages for q in p.quarantined
    ]


def _ranges(fake: FakeEbayTrading) -> list[tuple[datetime, datetime]]:
    return sorted(
        {
            (datetime.fromisoformat(r.mod_from), datetime.fromisoformat(r.mod_to))
            for r in fake.records
            if r.mod_from and r.mod_to
        }
    )


def test_every_order_of_every_account_is_yielded_once_across_windows_and_pages(
    fake_ebay: StartFake,
) -> None:
    oauth = EbayAccountSpec(token=OAUTH_TOKEN, orders=120, seed=1, malformed=3, name="acme")
    legacy = EbayAccountSpec(token=AUTH_N_AUTH_TOKEN, orders=75, seed=2, name="legacy")
    fake = fake_ebay(oauth, legacy)
    for spec in (oauth, legacy):
        with connector(
            fake, token=spec.token, entries_per_page=10, max_window=timedelta(days=10)
        ) as ebay:
            pages = list(ebay.pull(since=SINCE))
        expected = {o.order_id: o for o in fake.orders(spec.token)}
        ids = _ids(pages)
        assert Counter(ids) == Counter(expected.keys())  # each exactly once
        assert len([q for p in pages for q in p.quarantined]) == spec.malformed
        for order in (o for p in pages for o in p.orders):
            fake_order = expected[order.marketplace_order_id]
            assert order.status.value == fake_order.expected_status
            assert order.buyer is not None
            assert order.buyer.email == fake_order.buyer_email
            assert order.buyer.marketplace_buyer_id == fake_order.eias_token
            assert order.buyer.username == fake_order.buyer_username
            assert len(order.items) == fake_order.lines
            clear, pii = split(order)  # PII classified: sealed part only
            for value in (fake_order.buyer_email, fake_order.eias_token):
                assert value not in json.dumps(clear)
                assert value in json.dumps(pii)
        assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
    ranges = _ranges(fake)
    assert len(ranges) >= 7  # Dec 31 - Mar 20 in windows of 10 days, for both accounts
    assert all(b - a <= timedelta(days=10) for a, b in ranges)
    assert max(r.page or 0 for r in fake.records) > 1
    assert {r.auth for r in fake.records} == {"iaf", "auth_n_auth"}


def test_requests_ask_for_a_sellers_orders_in_full_a_hundred_at_a_time(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=30))
    with connector(fake) as ebay:
        list(ebay.pull(since=SINCE))
    for record in fake.records:
        assert (record.detail_level, record.order_role) == ("ReturnAll", "Seller")
        assert record.entries_per_page == 100
        assert record.site_id == "3"


def test_pages_stream_one_request_at_a_time(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=45))
    with connector(fake, entries_per_page=10) as ebay:
        pages = ebay.pull(since=SINCE)
        next(pages)
        assert fake.count() == 1
        next(pages)
        assert fake.count() == 2


def test_the_cursor_never_passes_a_window_that_is_still_being_paged(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=80, seed=4))
    with connector(fake, entries_per_page=10, max_window=timedelta(days=20)) as ebay:
        pages = list(ebay.pull(since=SINCE))
    for page in pages[:-1]:
        assert page.position_at == datetime.fromisoformat(page.state["window_from"])
        unseen_after = [
            o
            for o in fake.orders()
            if o.modified_at < page.position_at
            and o.order_id not in _ids(pages[: pages.index(page) + 1])
        ]
        assert unseen_after == []  # everything before the cursor was already yielded
    walk_to = NOW - timedelta(minutes=2)
    assert pages[-1].done
    assert pages[-1].position_at == walk_to.replace(microsecond=0)


def test_resuming_a_killed_pull_continues_after_the_last_saved_page(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=90, seed=3))
    with connector(fake, entries_per_page=10, max_window=timedelta(days=15)) as first:
        pages = first.pull(since=SINCE)
        saved = [next(pages) for _ in range(4)]  # then the worker is killed
    calls_before = fake.count()
    with connector(fake, entries_per_page=10, max_window=timedelta(days=15)) as second:
        rest = list(second.pull(saved[-1].state))
    resumed = fake.records[calls_before]
    assert (resumed.mod_from, resumed.page) == (
        saved[-1].state["window_from"].replace("+00:00", ".000Z"),
        saved[-1].state["page"],
    )
    assert Counter(_ids(saved + rest)) == Counter(o.order_id for o in fake.orders())


def test_the_next_pull_starts_at_the_last_walks_end_minus_the_overlap(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=20, seed=5))
    clock = SteppingClock()
    with connector(fake, clock=clock) as ebay:
        last = list(ebay.pull(since=SINCE))[-1]
        changed = fake.orders()[3].order_id
        clock.now_at += timedelta(hours=1)
        fake.modify(OAUTH_TOKEN, changed, clock.now_at - timedelta(minutes=30))
        again = list(ebay.pull(last.state))
    assert _ids(again) == [changed]
    start = datetime.fromisoformat(again[0].state["walk_from"])
    assert start == last.position_at - DEFAULT_OVERLAP


def test_a_long_backfill_keeps_every_window_inside_ebays_thirty_days(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=60, spread_days=75))
    with connector(fake) as ebay:  # the default window: 29 days
        pages = list(ebay.pull(since=NOW - timedelta(days=85)))
    assert Counter(_ids(pages)) == Counter(o.order_id for o in fake.orders())
    ranges = _ranges(fake)
    assert len(ranges) == 3
    assert all(b - a < timedelta(days=30) for a, b in ranges)


def test_a_start_older_than_ninety_days_begins_where_ebay_still_has_orders(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=5))
    with connector(fake) as ebay:
        pages = list(ebay.pull(since=NOW - timedelta(days=400)))
    first_from = _ranges(fake)[0][0]
    assert NOW - first_from <= timedelta(days=90)
    assert datetime.fromisoformat(pages[0].state["walk_from"]) == first_from


def test_an_order_leaving_the_window_mid_walk_loses_no_other_order(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=60, seed=6))
    with connector(fake, entries_per_page=10) as ebay:
        pages = ebay.pull(since=SINCE)
        seen = [next(pages), next(pages)]
        # A buyer changes an order already yielded: it moves past the walk's end, and every
        # order behind it moves up a place, so page 3 would start one order too late.
        fake.modify(OAUTH_TOKEN, seen[0].orders[0].marketplace_order_id, NOW)
        seen += list(pages)
    assert set(_ids(seen)) == {o.order_id for o in fake.orders()}
    original_to = _ranges(fake)[-1][1]
    assert any(datetime.fromisoformat(r.mod_to or "") < original_to for r in fake.records)


def test_the_first_pull_needs_a_start_and_a_foreign_state_is_refused(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay()
    with connector(fake) as ebay:
        with pytest.raises(ConnectorError, match="needs `since`") as first:
            list(ebay.pull())
        with pytest.raises(ConnectorError, match="resume state: bad walk_from") as foreign:
            list(ebay.pull({"version": 1, "walk_to": "somewhere"}))
    assert not first.value.retryable
    assert not foreign.value.retryable
    assert fake.count() == 0


def test_a_naive_start_is_refused(fake_ebay: StartFake) -> None:
    with connector(fake_ebay()) as ebay, pytest.raises(ConnectorError, match="timezone-aware"):
        list(ebay.pull(since=datetime(2026, 1, 1)))


def test_the_walk_end_is_fixed_when_it_opens(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=40))
    clock = SteppingClock()
    with connector(fake, clock=clock, entries_per_page=10) as ebay:
        pages = ebay.pull(since=SINCE)
        first = next(pages)
        clock.now_at += timedelta(days=2)  # a slow walk: later pages keep the same end
        rest = list(pages)
    ends = {p.state["walk_to"] for p in [first, *rest]}
    assert ends == {(NOW - timedelta(minutes=2)).astimezone(UTC).isoformat()}
