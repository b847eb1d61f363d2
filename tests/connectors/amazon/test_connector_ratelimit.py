"""Against the fake at a fast time scale: requests as they arrive never exceed the plan."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import redis

from connectors.amazon import AmazonConnector, RetryPolicy, SpApiError
from connectors.fakes import FakeSpApi, ScaledTime, SellerSpec
from connectors.ratelimit import AMAZON_USAGE_PLANS, BlockingLimiter, MemoryBuckets, RedisBuckets
from tests.connectors.amazon.helpers import SINCE, RecordingLimiter, SteppingClock, settings_at
from tests.connectors.test_ratelimit import assert_within_plan

Start = Callable[..., FakeSpApi]
ITEMS = "ordersV0.getOrderItems"


def _arrivals(fake: FakeSpApi, operation: str) -> list[float]:
    return [r.at_s for r in fake.records() if r.operation == operation]


def test_search_orders_never_exceeds_its_plan(fake_spapi: Start) -> None:
    scale = 1000.0  # searchOrders refills one token per 178.6 s: 0.18 s here
    fake = fake_spapi(SellerSpec(orders=100, seed=1), time_scale=scale, validate_responses=False)
    clock = ScaledTime(scale)
    limiter = BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep)
    amazon = AmazonConnector(
        settings_at(fake), limiter=limiter, clock=clock.now, sleep=clock.sleep, page_size=4
    )
    with amazon:
        orders = sum(len(p.orders) for p in amazon.pull(since=SINCE))
    assert orders == 100
    plan = AMAZON_USAGE_PLANS["orders.searchOrders"]
    arrivals = _arrivals(fake, "orders.searchOrders")
    assert len(arrivals) == 25
    assert fake.count(status=429) == 0
    assert_within_plan(arrivals, plan.rate_per_s, plan.burst)
    # And the plan really bound: past the burst, pages came one interval apart.
    assert arrivals[-1] - arrivals[0] >= (25 - plan.burst) * plan.interval_s


def test_v0_items_never_exceed_their_plan(fake_spapi: Start) -> None:
    scale = 100.0  # one spare token absorbs 20 ms of transit jitter here
    fake = fake_spapi(SellerSpec(orders=70, seed=2), time_scale=scale, validate_responses=False)
    clock = ScaledTime(scale)
    limiter = BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep)
    with AmazonConnector(
        settings_at(fake, api="v0"), limiter=limiter, clock=clock.now, sleep=clock.sleep
    ) as amazon:
        assert sum(len(p.orders) for p in amazon.pull(since=SINCE)) == 70
    plan = AMAZON_USAGE_PLANS[ITEMS]
    assert fake.count(status=429) == 0
    assert_within_plan(_arrivals(fake, ITEMS), plan.rate_per_s, plan.burst)


def test_the_rate_amazon_announces_replaces_the_documented_one(fake_spapi: Start) -> None:
    scale = 100.0  # one spare token absorbs 20 ms of transit jitter here
    granted_rate = 0.25  # this seller has half the documented getOrderItems rate
    seller = SellerSpec(orders=50, seed=3, rates_per_s={ITEMS: granted_rate})
    fake = fake_spapi(seller, time_scale=scale, validate_responses=False)
    clock = ScaledTime(scale)
    limiter = BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep)
    with AmazonConnector(
        settings_at(fake, api="v0"), limiter=limiter, clock=clock.now, sleep=clock.sleep
    ) as amazon:
        assert sum(len(p.orders) for p in amazon.pull(since=SINCE)) == 50
    assert fake.count(status=429) == 0
    assert_within_plan(_arrivals(fake, ITEMS), granted_rate, 30)


def test_the_announced_rate_is_handed_to_the_limiter(fake_spapi: Start) -> None:
    seller = SellerSpec(orders=3, rates_per_s={"orders.searchOrders": 0.0123})
    fake = fake_spapi(seller, enforce_plans=False)
    limiter = RecordingLimiter()
    clock = SteppingClock()
    with AmazonConnector(
        settings_at(fake), limiter=limiter, clock=clock.now, sleep=clock.sleep
    ) as amazon:
        list(amazon.pull(since=SINCE))
    assert limiter.acquired == ["amazon/acme/acme-eu/orders.searchOrders"]
    assert limiter.observed == {"amazon/acme/acme-eu/orders.searchOrders": 0.0123}


def _pull_concurrently(
    fake: FakeSpApi, clock: ScaledTime, limiters: list[object], **options: object
) -> list[BaseException]:
    errors: list[BaseException] = []

    def pull(limiter: object) -> None:
        try:
            with AmazonConnector(
                settings_at(fake, api="v0"),
                limiter=limiter,  # type: ignore[arg-type]
                clock=clock.now,
                sleep=clock.sleep,
                **options,  # type: ignore[arg-type]
            ) as amazon:
                for _ in amazon.pull(since=SINCE):
                    pass
        except BaseException as exc:  # noqa: BLE001 (reported to the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=pull, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_workers_sharing_a_redis_limiter_stay_within_one_plan(
    fake_spapi: Start, redis_url: str
) -> None:
    scale = 100.0  # one spare token absorbs 20 ms of transit jitter here
    fake = fake_spapi(SellerSpec(orders=40, seed=4), time_scale=scale, validate_responses=False)
    clock = ScaledTime(scale)
    client = redis.Redis.from_url(redis_url)
    prefix = f"ordervault-test:{uuid.uuid4().hex}:"
    limiters = [
        BlockingLimiter(RedisBuckets(client, prefix=prefix), clock=clock.now, sleep=clock.sleep)
        for _ in range(2)
    ]
    try:
        assert _pull_concurrently(fake, clock, limiters) == []  # type: ignore[arg-type]
    finally:
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        client.close()
    plan = AMAZON_USAGE_PLANS[ITEMS]
    assert fake.count(ITEMS) == 80
    assert fake.count(status=429) == 0
    assert_within_plan(_arrivals(fake, ITEMS), plan.rate_per_s, plan.burst)


def test_control_two_workers_with_their_own_buckets_are_throttled(fake_spapi: Start) -> None:
    """Without a shared store the same two workers overrun the plan.

    Real time (scale 1): no refill during the run can hide the overrun however slow the
    machine; one attempt each, since all this needs to see is Amazon's 429.
    """
    fake = fake_spapi(SellerSpec(orders=20, seed=4), validate_responses=False)
    clock = ScaledTime(1.0)
    limiters = [
        BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep) for _ in range(2)
    ]
    errors = _pull_concurrently(fake, clock, limiters, retry=RetryPolicy(max_attempts=1))  # type: ignore[arg-type]
    assert fake.count(ITEMS, status=429) > 0
    assert errors
    assert all(isinstance(e, SpApiError) and e.throttled and e.retryable for e in errors)
