"""Token buckets: the math, the blocking limiter, and the stores (memory, real Redis)."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from connectors.ratelimit import (
    BlockingLimiter,
    BucketStore,
    MemoryBuckets,
    RedisBuckets,
    UsagePlan,
    parse_rate_limit_header,
    take_from_bucket,
)


def assert_within_plan(times_s: list[float], rate_per_s: float, burst: float) -> None:
    """A sequence fits a token bucket that starts full iff every stretch of it does."""
    times = sorted(times_s)
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = burst + rate_per_s * (times[j] - times[i])
            assert j - i + 1 <= allowed + 1e-6, (
                f"{j - i + 1} requests within {times[j] - times[i]:.3f} s exceed the plan"
            )


class Clock:
    def __init__(self) -> None:
        self.now_at = datetime(2026, 3, 1, tzinfo=UTC)
        self.sleeps_s: list[float] = []

    def now(self) -> datetime:
        return self.now_at

    def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_at += timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[BucketStore]:
    if request.param == "memory":
        yield MemoryBuckets()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    prefix = f"ordervault-test:{uuid.uuid4().hex}:"
    yield RedisBuckets(client, prefix=prefix)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def test_bucket_math() -> None:
    tokens, updated, wait = take_from_bucket(10.0, 0.0, 0.5, 10.0, 0.0)
    assert (tokens, updated, wait) == (9.0, 0.0, 0.0)
    tokens, updated, wait = take_from_bucket(0.5, 0.0, 0.5, 10.0, 0.0)
    assert wait == pytest.approx(1.0)  # half a token missing at 0.5 tokens/s
    assert tokens == 0.5
    tokens, _, wait = take_from_bucket(0.0, 0.0, 0.5, 10.0, 100.0)
    assert (tokens, wait) == (9.0, 0.0)  # refilled to capacity, never beyond
    tokens, updated, wait = take_from_bucket(0.2, 50.0, 0.5, 10.0, 40.0)
    assert (tokens, updated) == (0.2, 50.0)  # a clock running behind refills nothing
    assert wait > 0


def test_usage_plans_refuse_nonsense_and_headers_parse() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        UsagePlan(rate_per_s=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        UsagePlan(rate_per_s=1, burst=0)
    assert UsagePlan(0.0056, 20).interval_s == pytest.approx(178.57, abs=0.01)
    assert parse_rate_limit_header("0.0167") == 0.0167
    for bad in (None, "", "fast", "-1", "nan", "inf"):
        assert parse_rate_limit_header(bad) is None


def test_a_store_grants_the_burst_then_refills_at_the_rate(store: BucketStore) -> None:
    granted = [store.take("k", 0.5, 5.0, 1000.0) for _ in range(6)]
    assert granted[:5] == [0.0] * 5
    assert granted[5] == pytest.approx(2.0)
    assert store.take("k", 0.5, 5.0, 1002.0) == 0.0
    assert store.take("k", 0.5, 5.0, 1002.0) == pytest.approx(2.0)
    assert store.take("other", 0.5, 5.0, 1002.0) == 0.0  # buckets are per key


def test_a_store_refills_at_the_observed_rate(store: BucketStore) -> None:
    for _ in range(3):
        store.take("k", 1.0, 3.0, 0.0)
    store.set_rate("k", 0.1)
    assert store.take("k", 1.0, 3.0, 0.0) == pytest.approx(10.0)
    assert store.take("k", 1.0, 3.0, 10.0) == 0.0


def test_concurrent_takes_never_grant_more_than_the_bucket_holds(store: BucketStore) -> None:
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            wait = store.take("shared", 0.001, 10.0, 5000.0)
            with lock:
                granted.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(0.0) == 10


def test_the_blocking_limiter_sleeps_exactly_as_long_as_the_plan_requires(
    store: BucketStore,
) -> None:
    clock = Clock()
    limiter = BlockingLimiter(store, clock=clock.now, sleep=clock.sleep, reserve_tokens=1)
    plan = UsagePlan(rate_per_s=0.5, burst=10)
    grants = []
    for _ in range(30):
        limiter.acquire("acme/op", plan)
        grants.append(clock.now().timestamp())
    # Nine from the burst (one held in reserve), then one every two seconds.
    assert sum(clock.sleeps_s) == pytest.approx((30 - 9) / 0.5)
    assert_within_plan(grants, 0.5, 9)


def test_observed_rates_reach_the_store_only_when_they_change() -> None:
    calls: list[tuple[str, float]] = []

    class Counting(MemoryBuckets):
        def set_rate(self, key: str, rate_per_s: float) -> None:
            calls.append((key, rate_per_s))
            super().set_rate(key, rate_per_s)

    clock = Clock()
    limiter = BlockingLimiter(Counting(), clock=clock.now, sleep=clock.sleep)
    for rate in (0.5, 0.5, 0.5, 0.25, 0.25):
        limiter.observe_rate("k", rate)
    assert calls == [("k", 0.5), ("k", 0.25)]


def test_the_redis_script_keeps_idle_buckets_from_piling_up(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"ordervault-test:{uuid.uuid4().hex}:"
    try:
        RedisBuckets(client, prefix=prefix).take("k", 0.5, 30.0, 0.0)
        ttl_s = client.ttl(prefix + "k")
        assert 0 < ttl_s <= 30 / 0.5 * 2 + 60
    finally:
        client.delete(prefix + "k")
        client.close()


# -- several processes, one Redis ----------------------------------------------------------

SCALE = 50.0  # a spare token absorbs 20 ms of jitter between a grant and its record


class _GrantLog(RedisBuckets):
    """Reports the time each granted take was decided at, not when the process got to it."""

    def __init__(self, client: redis.Redis, prefix: str, out: object) -> None:
        super().__init__(client, prefix=prefix)
        self._out = out

    def take(self, key: str, default_rate_per_s: float, capacity: float, now_s: float) -> float:
        wait_s = super().take(key, default_rate_per_s, capacity, now_s)
        if wait_s == 0.0:
            self._out.put(now_s)  # type: ignore[attr-defined]
        return wait_s


def _worker(redis_url: str, prefix: str, start_wall_s: float, count: int, out: object) -> None:
    """Acquire `count` tokens in a separate process, on a clock shared through wall time."""

    def now() -> datetime:
        elapsed_s = (time.time() - start_wall_s) * SCALE
        return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=elapsed_s)

    client = redis.Redis.from_url(redis_url)
    limiter = BlockingLimiter(
        _GrantLog(client, prefix, out), clock=now, sleep=lambda s: time.sleep(s / SCALE)
    )
    plan = UsagePlan(rate_per_s=1.0, burst=5)
    for _ in range(count):
        limiter.acquire("acme/acme-eu/op", plan)
    client.close()


def test_worker_processes_sharing_redis_stay_within_one_plan_together(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    prefix = f"ordervault-test:{uuid.uuid4().hex}:"
    start = time.time()
    workers = [
        context.Process(target=_worker, args=(redis_url, prefix, start, 12, queue))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    grants = [queue.get(timeout=30) for _ in range(36)]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    # Four from the burst (one in reserve), then one per second, across all three processes.
    # Each process reads its clock before its script runs, so two reads may land in the other
    # order: one token of tolerance. Unshared buckets would overrun the plan by eight.
    assert_within_plan(grants, 1.0, 5 + 1)
    assert max(grants) - min(grants) >= (36 - 4) / 1.0 - 1.0
    client = redis.Redis.from_url(redis_url)
    client.delete(prefix + "acme/acme-eu/op")
    client.close()


def test_the_blocking_limiter_never_spins_on_a_wait_shorter_than_the_clock_can_move() -> None:
    class MicrosecondClock(Clock):
        """A datetime clock: a sleep moves it by whole microseconds, rounded like timedelta."""

        def sleep(self, seconds: float) -> None:
            assert len(self.sleeps_s) < 1000, "the limiter spins without the clock moving"
            super().sleep(seconds)

    clock = MicrosecondClock()
    limiter = BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep)
    # One token at a time, three a second: a third of a second is 333333.33 µs, so the first
    # sleep leaves a third of a microsecond owed, which timedelta rounds to nothing.
    plan = UsagePlan(rate_per_s=3.0, burst=2)
    for _ in range(4):
        limiter.acquire("acme/op", plan)
    assert all(seconds >= 1e-6 for seconds in clock.sleeps_s)
    assert sum(clock.sleeps_s) == pytest.approx(1.0, abs=1e-5)
