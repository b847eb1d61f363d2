"""PostgreSQL connections killed mid-transaction (`pg_terminate_backend`) while orders are stored
and while they are forwarded.

No half-written order may remain: every stored order has its outbox row for its version, its
blind-index rows, and PII that opens (ciphertext, wrapped data key and a live bucket key in the
key store, or none of them). The failed work completes when it is retried, without creating a
second version, and the audit chain stays intact. Kills come two ways: at a chosen statement
inside the transaction (`StatementKiller`), and at random among backends that are inside a
transaction (`BackendKiller`), in both the data database and the key store.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from connectors.order import Order as CanonicalOrder
from crypto import RecordRef
from pipeline.forward import DestinationPool, Forwarder
from pipeline.receiver import WebhookReceiver
from storage import audit, outbox
from storage.models import BlindIndexEntry, Delivery, Order
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment, FakeClock
from tests.reliability.faults import (
    BackendKiller,
    StatementKiller,
    Tally,
    acme_with_webhook,
    delivery_counts,
    received_documents,
    store_orders,
    synthetic_order,
)
from tests.services import POSTGRES_URL

ORDERS = 1500
FORWARD_ORDERS = 400
PAGE = 50  # orders per store_many transaction
FORWARD_THREADS = 3
BATCH_SIZE = 20
RANDOM_KILLS = 12
TARGETED_KILLS = 4  # batches killed after their send, before they are marked delivered

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("deployment", ["postgresql"], indirect=True),
]

#: A lost connection, as SQLAlchemy reports it; anything else fails the test.
CONNECTION_LOST = (sa.exc.OperationalError, sa.exc.InterfaceError)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"]) as running:
        yield running


@pytest.fixture
def acme_toml(receiver: WebhookReceiver) -> str:
    return acme_with_webhook(receiver, batch_size=BATCH_SIZE)


def database_names(deployment: Deployment) -> list[str]:
    urls = (deployment.data_db.url, deployment.keystore_db.url)
    return [str(make_url(url).database) for url in urls]


def spread_orders(clock: FakeClock, count: int) -> list[CanonicalOrder]:
    """Orders whose expiry falls on 20 different days: 20 bucket keys for the key store to make."""
    purchased = clock.now - timedelta(days=1)
    return [
        synthetic_order(n, purchased, latest_delivery_by=purchased + timedelta(days=2 + n % 20))
        for n in range(count)
    ]


def store_retrying(
    deployment: Deployment, orders: Sequence[CanonicalOrder]
) -> tuple[list[int], int]:
    """Store page by page; a page whose connection died is stored again. (ids, retries)."""
    client = deployment.config.client("acme")
    ids: list[int] = []
    retries = 0
    for start in range(0, len(orders), PAGE):
        page = orders[start : start + PAGE]
        for _attempt in range(20):
            try:
                ids += store_orders(deployment.runtime, client, page)
                break
            except CONNECTION_LOST:
                retries += 1
        else:
            pytest.fail(f"page at {start} failed 20 times")
    return ids, retries


def assert_no_half_written_order(deployment: Deployment, expected_orders: int) -> None:
    runtime = deployment.runtime
    destinations = len(deployment.config.client("acme").destinations)
    with runtime.sessions() as session:
        orders = session.execute(
            sa.select(
                Order.id,
                Order.version,
                Order.client_id,
                Order.marketplace,
                Order.marketplace_order_id,
                Order.schema_version,
                Order.pii_ciphertext,
                Order.wrapped_data_key,
                Order.bucket_day,
            )
        ).all()
        outbox_rows = dict(
            session.execute(
                sa.select(Delivery.order_id, sa.func.count())
                .join(Order, Order.id == Delivery.order_id)
                .where(Delivery.order_version == Order.version)
                .group_by(Delivery.order_id)
            ).all()
        )
        indexed = set(session.scalars(sa.select(BlindIndexEntry.order_id).distinct()))
        assert audit.verify(session).ok
    assert len(orders) == expected_orders
    assert {row.version for row in orders} == {1}, "a retried store made a second version"
    missing_outbox = [row.id for row in orders if outbox_rows.get(row.id) != destinations]
    assert not missing_outbox, f"orders without their outbox rows: {missing_outbox[:10]}"
    assert not [row.id for row in orders if row.id not in indexed], "orders without blind index"
    for row in orders:
        sealed = (row.pii_ciphertext, row.wrapped_data_key, row.bucket_day)
        assert None not in sealed, f"order {row.id}: PII without its key (or no PII at all)"
        ref = RecordRef(
            row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version
        )
        assert runtime.vault.open(ref, row.pii_ciphertext, row.wrapped_data_key)


def test_ingest_survives_connections_killed_mid_transaction(
    deployment: Deployment, clock: FakeClock, tally: Tally
) -> None:
    orders = spread_orders(clock, ORDERS)
    tally.orders_in = ORDERS
    data, keys = deployment.runtime.data_engine, deployment.runtime.keystore_engine
    targeted = [
        # A page's orders are written, its outbox rows not yet.
        StatementKiller(data, POSTGRES_URL, _inserts("orders"), times=2, after=True),
        StatementKiller(data, POSTGRES_URL, _inserts("deliveries"), times=2),
        # A bucket key is written to the key store, not yet committed.
        StatementKiller(keys, POSTGRES_URL, _inserts("bucket_keys"), times=2, after=True),
    ]
    killer = BackendKiller(
        POSTGRES_URL, database_names(deployment), interval_s=0.15, max_kills=RANDOM_KILLS
    )
    with tally.timed("ingest"), contextlib.ExitStack() as stack:
        for statement_killer in targeted:
            stack.enter_context(statement_killer)
        killer.start()
        try:
            ids, retries = store_retrying(deployment, orders)
        finally:
            killer.halt()
    assert killer.error is None
    targeted_kills = sum(k.kills for k in targeted)
    tally.detail = (
        f"{targeted_kills} targeted + {killer.kills} random kills, {retries} page retries"
    )
    assert [k.kills for k in targeted] == [2, 2, 2]
    assert retries >= targeted_kills
    # Fewer ids than orders is fine: a page whose COMMIT was killed may have committed all
    # the same, and storing it again finds it unchanged (its rows are then the sweep's).
    assert len(ids) <= ORDERS
    assert_no_half_written_order(deployment, ORDERS)
    # Storing everything again (a pull that overlaps) changes nothing.
    assert store_orders(deployment.runtime, deployment.config.client("acme"), orders) == []
    tally.delivered = ORDERS  # stored whole: this flow ends at the outbox


def _inserts(table: str) -> Callable[[str], bool]:
    return lambda sql: sql.lstrip().upper().startswith(f"INSERT INTO {table.upper()} ")


class Forwarding:
    """Forward in threads as workers would. A message whose connection died is lost; between
    rounds the clock passes the lease and `lost_after_s`, and the sweep sends what is due."""

    def __init__(self, deployment: Deployment, clock: FakeClock, threads: int) -> None:
        self.runtime = deployment.runtime
        self.clock = clock
        self.pool = DestinationPool(self.runtime)
        self.work: queue.Queue[list[int] | None] = queue.Queue()
        self.lost_messages = 0
        self.rounds = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._worker, args=(n,), daemon=True) for n in range(threads)
        ]

    def _worker(self, number: int) -> None:
        forwarder = Forwarder(self.runtime, self.pool, worker_id=f"fault-test:{number}")
        while True:
            chunk = self.work.get()
            try:
                if chunk is None:
                    return
                forwarder.forward(chunk)
            except CONNECTION_LOST:
                with self._lock:
                    self.lost_messages += 1
            except Exception as exc:  # noqa: BLE001 (the test fails on it)
                self.errors.append(exc)
            finally:
                self.work.task_done()

    def run(self, ids: list[int], *, max_rounds: int = 30) -> None:
        settings = self.runtime.config.settings.outbox
        for thread in self._threads:
            thread.start()
        try:
            pending = ids
            while pending and self.rounds < max_rounds:
                self.rounds += 1
                for start in range(0, len(pending), BATCH_SIZE):
                    self.work.put(pending[start : start + BATCH_SIZE])
                self.work.join()
                self.clock.advance(seconds=settings.lease_s + settings.lost_after_s + 1)
                with self.runtime.sessions() as session:
                    pending = outbox.due_for_sweep(
                        session, now=self.clock.now, lost_after_s=settings.lost_after_s
                    )
        finally:
            for _ in self._threads:
                self.work.put(None)
            for thread in self._threads:
                thread.join(timeout=60)
            self.pool.close()


def test_forwarding_survives_connections_killed_mid_transaction(
    deployment: Deployment, receiver: WebhookReceiver, clock: FakeClock, tally: Tally
) -> None:
    orders = spread_orders(clock, FORWARD_ORDERS)
    ids = store_orders(deployment.runtime, deployment.config.client("acme"), orders)
    tally.orders_in = len(ids)
    # Marking a sent batch delivered: killed there, the batch was sent but is still owed.
    targeted = StatementKiller(
        deployment.runtime.data_engine,
        POSTGRES_URL,
        lambda sql: sql.lstrip().startswith("UPDATE deliveries") and "delivered_at" in sql,
        times=TARGETED_KILLS,
    )
    killer = BackendKiller(
        POSTGRES_URL, database_names(deployment), interval_s=0.5, max_kills=RANDOM_KILLS
    )
    forwarding = Forwarding(deployment, clock, FORWARD_THREADS)
    with tally.timed("forward"), targeted:
        killer.start()
        try:
            forwarding.run(ids)
        finally:
            killer.halt()
    stats = receiver.stats
    tally.delivered, tally.repeats = stats.accepted, stats.duplicates
    tally.detail = (
        f"{targeted.kills} targeted + {killer.kills} random kills, "
        f"{forwarding.lost_messages} messages lost, {forwarding.rounds} rounds"
    )
    assert killer.error is None
    assert not forwarding.errors, forwarding.errors[:3]
    assert targeted.kills == TARGETED_KILLS
    counts = delivery_counts(deployment.runtime)
    assert counts["delivered"] == len(ids), counts
    with deployment.runtime.sessions() as session:
        expected = set(session.scalars(sa.select(Delivery.idempotency_key)))
        assert audit.verify(session).ok
    assert {doc["ordervault"]["idempotency_key"] for doc in receiver.orders} == expected
    documents = received_documents(receiver)
    assert {doc["ordervault"]["idempotency_key"] for doc in documents} == expected
    assert len(documents) == len(ids) + stats.duplicates
    # Each batch killed after its send was sent again: its orders arrived twice.
    assert stats.duplicates >= TARGETED_KILLS
