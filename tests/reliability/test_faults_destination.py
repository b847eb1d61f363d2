"""The destination goes down for a while (connections refused, then 503 with Retry-After), new
versions of the orders keep arriving meanwhile, then it comes back.

What "order preserved per order id" means with supersession: storing a new version retires the
older version's rows that are not on their way yet (pending or failed), so a receiver may never
see an intermediate version; what it must never see is an older version after a newer one.
Every order's latest version must arrive, and each document's content must be the version its
`order_version` says (the buyer message carries the version number, inside the sealed PII).
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.order import Order as CanonicalOrder
from pipeline.destinations.base import Destination, OutgoingOrder
from pipeline.destinations.factory import build_destination
from pipeline.forward import DestinationPool, Forwarder
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from storage.models import Delivery, Order
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment, FakeClock
from tests.reliability.faults import (
    Tally,
    TcpProxy,
    acme_with_webhook,
    delivery_counts,
    received_documents,
    store_orders,
    synthetic_order,
    wait_until,
)

ORDERS = 120
#: Far past any backoff the outage caused (a few failures: under a minute) and Retry-After.
LATER = timedelta(hours=1)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("deployment", ["postgresql"], indirect=True),
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"]) as running:
        yield running


@pytest.fixture
def proxy(receiver: WebhookReceiver) -> Iterator[TcpProxy]:
    """The network between ordervault and the receiver, which the test can cut."""
    running = TcpProxy(("127.0.0.1", receiver.port)).start()
    yield running
    running.close()


@pytest.fixture
def acme_toml(receiver: WebhookReceiver, proxy: TcpProxy) -> str:
    return acme_with_webhook(receiver, port=proxy.port)


def version(n: int, content: int, purchased: datetime) -> CanonicalOrder:
    """Order `n` with its `content`-th payload: stored as version `content` of the order."""
    return synthetic_order(
        n,
        purchased,
        updated_at=purchased + timedelta(minutes=content),
        buyer_message=f"content {content}",
    )


def versions_by_order(documents: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Order id -> the order_version of each arrival, in arrival order (repeats included)."""
    arrivals: dict[str, list[int]] = defaultdict(list)
    for document in documents:
        meta = document["ordervault"]
        arrivals[meta["marketplace_order_id"]].append(meta["order_version"])
    return arrivals


def out_of_order(arrivals: dict[str, list[int]]) -> dict[str, list[int]]:
    return {
        order_id: seen
        for order_id, seen in arrivals.items()
        if any(later < earlier for earlier, later in itertools.pairwise(seen))
    }


def mislabelled(documents: Sequence[dict[str, Any]]) -> list[str]:
    """Documents whose content is not the version their order_version names."""
    return [
        doc["ordervault"]["marketplace_order_id"]
        for doc in documents
        if doc["order"]["buyer_message"] != f"content {doc['ordervault']['order_version']}"
    ]


def test_destination_down_then_back_delivers_latest_versions_in_order(
    deployment: Deployment,
    receiver: WebhookReceiver,
    proxy: TcpProxy,
    clock: FakeClock,
    tally: Tally,
) -> None:
    runtime = deployment.runtime
    client = deployment.config.client("acme")
    purchased = clock.now - timedelta(days=1)
    jobs = Jobs(make_broker("inline"), runtime)

    def store(content: int, numbers: Sequence[int]) -> None:
        ids = store_orders(runtime, client, [version(n, content, purchased) for n in numbers])
        jobs.enqueue_deliveries(ids)  # after commit, as the pull does
        jobs.drain()

    def sweep_later() -> None:
        clock.advance(seconds=LATER.total_seconds())
        jobs.sweep.send()
        jobs.drain()

    everyone = range(ORDERS)
    try:
        with tally.timed("up"):
            store(1, everyone)
        assert receiver.stats.accepted == ORDERS
        with tally.timed("down"):
            proxy.cut()  # connections refused
            store(2, everyone)
            sweep_later()
            store(3, everyone[::2])
            proxy.restore()
            receiver.respond_with(503, retry_after="120")  # up, but failing
            sweep_later()
            store(4, everyone[::4])
            failing = delivery_counts(runtime)
            accepted_while_down = receiver.stats.accepted - ORDERS
        receiver.reset_responses()
        with tally.timed("back"):
            for _ in range(5):
                owed = delivery_counts(runtime)
                if owed["pending"] + owed["failed"] + owed["sending"] == 0:
                    break
                sweep_later()
    finally:
        jobs.close()
    counts = delivery_counts(runtime)

    documents = received_documents(receiver)
    arrivals = versions_by_order(documents)
    with runtime.sessions() as session:
        latest = dict(session.execute(sa.select(Order.marketplace_order_id, Order.version)).all())
        delivered_versions = set(
            session.execute(
                sa.select(Order.marketplace_order_id, Delivery.order_version)
                .join(Order, Order.id == Delivery.order_id)
                .where(Delivery.status == "delivered")
            ).all()
        )
    stats = receiver.stats
    tally.orders_in = ORDERS
    tally.delivered = sum(1 for order_id, v in latest.items() if arrivals[order_id][-1:] == [v])
    tally.repeats = stats.duplicates
    tally.detail = (
        f"{sum(latest.values())} versions stored, {len(documents) - stats.duplicates} sent, "
        f"{failing['failed']} failing and {failing['superseded']} superseded while down, "
        f"{stats.forced} answered 503"
    )

    assert counts["pending"] + counts["failed"] + counts["sending"] + counts["dead"] == 0, counts
    assert failing["failed"] > 0, "the outage did not make any delivery fail"
    assert accepted_while_down == 0
    assert stats.forced > 0, "no request met the 503 phase"
    assert all((order_id, v) in delivered_versions for order_id, v in latest.items())
    assert tally.delivered == ORDERS, "an order's latest version never arrived"
    assert not out_of_order(arrivals), out_of_order(arrivals)
    assert not mislabelled(documents)


# --- an older version in flight while a newer one is sent -----------------------------------


class HeldDestination(Destination):
    """Wraps a real destination; the first send of a batch holding `held_key` waits for
    `release` (a worker stalled between claiming a row and its POST: GC pause, slow network)."""

    def __init__(self, inner: Destination, held_key: str) -> None:
        self.inner = inner
        self.name, self.transport, self.batch_size = inner.name, inner.transport, inner.batch_size
        self.held_key = held_key
        self.holding = threading.Event()
        self.release = threading.Event()

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        if any(order.idempotency_key == self.held_key for order in batch):
            self.holding.set()
            assert self.release.wait(timeout=30)
        self.inner.send(batch)

    def close(self) -> None:
        self.inner.close()


def test_an_older_version_in_flight_never_arrives_after_a_newer_one(
    deployment: Deployment, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    runtime = deployment.runtime
    client = deployment.config.client("acme")
    purchased = clock.now - timedelta(days=1)
    (first,) = store_orders(runtime, client, [version(0, 1, purchased)])
    with runtime.sessions() as session:
        held_key = session.scalar(sa.select(Delivery.idempotency_key).where(Delivery.id == first))
    held: list[HeldDestination] = []

    def build(config: Any, **options: Any) -> Destination:
        held.append(HeldDestination(build_destination(config, **options), str(held_key)))
        return held[-1]

    slow = DestinationPool(runtime, build=build)
    fast = DestinationPool(runtime)
    worker = threading.Thread(
        target=Forwarder(runtime, slow, "slow-worker").forward, args=[[first]]
    )
    worker.start()
    try:
        started = wait_until(lambda: bool(held) and held[0].holding.is_set(), timeout_s=30)
        assert started, "the first send never started"
        (second,) = store_orders(runtime, client, [version(0, 2, purchased)])
        # Version 1 is on its way under a live lease: version 2 is not claimable yet.
        early = Forwarder(runtime, fast, "fast-worker").forward([second])
        assert (early.delivered, early.skipped) == (0, 1)
    finally:
        if held:
            held[0].release.set()
        worker.join(timeout=30)
    try:
        # Once version 1 is recorded, version 2 goes (as the sweeper's next message would).
        later = Forwarder(runtime, fast, "fast-worker").forward([second])
        assert later.delivered == 1
    finally:
        slow.close()
        fast.close()
    arrivals = versions_by_order(received_documents(receiver))
    assert arrivals[version(0, 1, purchased).marketplace_order_id] == [1, 2], arrivals
