"""Token buckets in the data database: the connectors' bucket rule, atomic across workers."""

from __future__ import annotations

import multiprocessing
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.ratelimit import BlockingLimiter, MemoryBuckets, UsagePlan, take_from_bucket
from storage import SqlBuckets, create_engine
from storage.models import RateBucket
from storage.rate_buckets import refill_and_take
from tests.fixtures.databases import MigratedDatabase

# -- the arithmetic is the connectors' rule -------------------------------------------------

_amounts = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
_times_s = st.floats(min_value=0.0, max_value=2e9, allow_nan=False)
_rates_per_s = st.floats(min_value=1e-4, max_value=1e3, allow_nan=False)


@given(
    tokens=_amounts,
    updated_s=_times_s,
    rate_per_s=_rates_per_s,
    capacity=st.floats(min_value=1.0, max_value=1e4),
    now_s=_times_s,
)
def test_refill_and_take_is_take_from_bucket(
    tokens: float, updated_s: float, rate_per_s: float, capacity: float, now_s: float
) -> None:
    assert refill_and_take(tokens, updated_s, rate_per_s, capacity, now_s) == take_from_bucket(
        tokens, updated_s, rate_per_s, capacity, now_s
    )


def test_waits_match_the_memory_store(data_db: MigratedDatabase) -> None:
    """Same calls, same waits, to the bit: several keys, observed rates, a clock that jumps."""
    sql, memory = SqlBuckets(data_db.sessions), MemoryBuckets()
    rng = random.Random(20260516)
    now_s = 1_772_323_200.0
    for step in range(300):
        key = rng.choice(["acme/eu/orders", "acme/eu/items", "beta/us/orders"])
        if step % 37 == 0:
            rate_per_s = rng.choice([0.0167, 0.5, 2.0])
            sql.set_rate(key, rate_per_s)
            memory.set_rate(key, rate_per_s)
        now_s += rng.choice([0.0, 0.0, 0.05, 0.3, 2.0, 45.0, -1.5])  # -1.5: a skewed worker
        expected = memory.take(key, 0.5, 5.0, now_s)
        assert sql.take(key, 0.5, 5.0, now_s) == expected, f"step {step}"


# -- the store's behaviour ------------------------------------------------------------------


def test_grants_the_burst_then_refills_at_the_rate(data_db: MigratedDatabase) -> None:
    store = SqlBuckets(data_db.engine)  # an engine works as well as a sessionmaker
    granted = [store.take("k", 0.5, 5.0, 1000.0) for _ in range(6)]
    assert granted[:5] == [0.0] * 5
    assert granted[5] == pytest.approx(2.0)
    assert store.take("k", 0.5, 5.0, 1002.0) == 0.0
    assert store.take("k", 0.5, 5.0, 1002.0) == pytest.approx(2.0)
    assert store.take("other", 0.5, 5.0, 1002.0) == 0.0  # buckets are per key
    assert store.take("k", 0.5, 5.0, 1_000_000.0) == 0.0  # refilled, capped at the capacity
    assert [store.take("k", 0.5, 5.0, 1_000_000.0) for _ in range(5)][-1] == pytest.approx(2.0)


def test_a_clock_running_behind_refills_nothing(data_db: MigratedDatabase) -> None:
    store = SqlBuckets(data_db.sessions)
    for _ in range(2):
        store.take("k", 1.0, 2.0, 100.0)
    assert store.take("k", 1.0, 2.0, 90.0) == pytest.approx(1.0)  # not drained, not refilled
    assert store.take("k", 1.0, 2.0, 101.0) == 0.0


def test_refills_at_the_observed_rate(data_db: MigratedDatabase) -> None:
    store = SqlBuckets(data_db.sessions)
    for _ in range(3):
        store.take("k", 1.0, 3.0, 0.0)
    store.set_rate("k", 0.1)
    assert store.take("k", 1.0, 3.0, 0.0) == pytest.approx(10.0)
    assert store.take("k", 1.0, 3.0, 10.0) == 0.0
    store.set_rate("k", 0.5)  # a later announcement replaces the earlier one
    assert store.take("k", 1.0, 3.0, 10.0) == pytest.approx(2.0)
    with data_db.sessions() as session:
        row = session.get(RateBucket, "k")
    assert row is not None
    assert row.rate_per_s == 0.5


def test_a_rate_observed_before_any_take_leaves_the_bucket_full(
    data_db: MigratedDatabase,
) -> None:
    store = SqlBuckets(data_db.sessions)
    store.set_rate("k", 0.25)
    assert [store.take("k", 1.0, 3.0, 500.0) for _ in range(3)] == [0.0] * 3
    assert store.take("k", 1.0, 3.0, 500.0) == pytest.approx(4.0)


@pytest.mark.parametrize("rate_per_s", [0.0, -1.0, float("nan"), float("inf")])
def test_nonsense_rates_are_refused(data_db: MigratedDatabase, rate_per_s: float) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        SqlBuckets(data_db.sessions).set_rate("k", rate_per_s)


def test_the_blocking_limiter_sleeps_exactly_as_long_as_the_plan_requires(
    data_db: MigratedDatabase,
) -> None:
    now_at = [datetime(2026, 3, 1, tzinfo=UTC)]
    sleeps_s: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps_s.append(seconds)
        now_at[0] += timedelta(seconds=seconds)

    limiter = BlockingLimiter(
        SqlBuckets(data_db.sessions), clock=lambda: now_at[0], sleep=sleep, reserve_tokens=1
    )
    for _ in range(20):
        limiter.acquire("acme/op", UsagePlan(rate_per_s=0.5, burst=10))
    # Nine from the burst (one held in reserve), then one every two seconds.
    assert sum(sleeps_s) == pytest.approx((20 - 9) / 0.5)


# -- several workers, one bucket --------------------------------------------------------------
#
# Every worker takes at the same injected instant in phases separated by a barrier, so the
# number of grants is exact: the burst at the start, then rate x elapsed per phase. Without
# the row lock (or BEGIN IMMEDIATE) two workers read the same token count and both take.

RATE_PER_S, CAPACITY = 0.5, 10.0
# (now_s, grants in that phase): the burst; 4 s refill 2; no time, nothing; a long idle
# stretch refills to the capacity and no further.
PHASES = [(1000.0, 10), (1004.0, 2), (1004.0, 0), (5000.0, 10)]
TAKES_PER_PHASE = 6  # per worker; more than any phase grants, split over the workers


def _take_in_phases(store: SqlBuckets, key: str, barrier: threading.Barrier) -> list[int]:
    grants = []
    for now_s, _expected in PHASES:
        barrier.wait(timeout=60)
        waits = [store.take(key, RATE_PER_S, CAPACITY, now_s) for _ in range(TAKES_PER_PHASE)]
        grants.append(waits.count(0.0))
    return grants


def test_threads_never_take_more_than_the_bucket_holds(data_db: MigratedDatabase) -> None:
    store, key, count = SqlBuckets(data_db.sessions), f"shared-{uuid.uuid4().hex}", 4
    barrier = threading.Barrier(count)
    results: list[list[int]] = []
    lock = threading.Lock()

    def worker() -> None:
        grants = _take_in_phases(store, key, barrier)
        with lock:
            results.append(grants)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == count
    assert [sum(phase) for phase in zip(*results, strict=True)] == [n for _, n in PHASES]


def _process_worker(url: str, key: str, barrier: threading.Barrier, out: object) -> None:
    engine = create_engine(url)
    try:
        out.put(_take_in_phases(SqlBuckets(engine), key, barrier))  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_worker_processes_sharing_the_database_stay_within_one_plan_together(
    data_db: MigratedDatabase,
) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(2)
    key = f"shared-{uuid.uuid4().hex}"
    workers = [
        context.Process(target=_process_worker, args=(data_db.url, key, barrier, queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    # Unshared buckets would grant each process its own burst: 20 at the start, not 10.
    assert [sum(phase) for phase in zip(*results, strict=True)] == [n for _, n in PHASES]
