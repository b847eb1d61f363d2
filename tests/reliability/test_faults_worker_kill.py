"""A worker process SIGKILLed three times while thousands of orders are forwarded.

RabbitMQ (in a vhost of our own) and Redis (a database number of our own), each with two
`ordervault worker` processes; at a quarter, half and three quarters of the way, a worker
caught holding claimed rows (mid-batch) is killed with SIGKILL, and started again. Every order
must reach the receiver, and a repeat may only carry an idempotency key the receiver has
already seen (at-least-once, deduplicated).
ORDERVAULT_FAULT_ORDERS sets the number of orders (default 5000, at least 2000).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.jobs.actors import FORWARD_QUEUE, MAINTENANCE_QUEUE, Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from storage.models import Delivery
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment, FakeClock
from tests.reliability.faults import (
    Tally,
    acme_with_webhook,
    assert_running,
    delivery_counts,
    fault_orders,
    received_documents,
    start_worker,
    stop_worker,
    store_orders,
    synthetic_order,
)

# At least 2000: each worker thread holds up to a batch (at least 50 rows: a message tops its
# claim up) at a time, and the last kill must still land while work is left.
ORDERS = max(2000, fault_orders(5000))
KILLS = 3
WORKERS = 2
THREADS = 2
# Per request: with WORKERS x THREADS batches in flight, a run lasts seconds, not a poll.
RESPONSE_DELAY_S = 0.25
# Batch mode, as a high-volume client would configure it; at least 40 batches, so each kill
# lands while batches are in flight.
BATCH_SIZE = max(5, min(100, ORDERS // 40))
SWEEP_EVERY_S = 3.0
LEASE_S = 15.0
# Generous: the machine these run on is shared; a healthy run takes a fraction of this.
DEADLINE_S = 120.0 + ORDERS * 0.12

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("deployment", ["postgresql"], indirect=True),
]


@pytest.fixture(
    params=[
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"fault_{request.param}_url")
    broker = make_broker(url)
    try:
        for queue in (FORWARD_QUEUE, MAINTENANCE_QUEUE):
            broker.declare_queue(queue)
        broker.flush_all()  # our own vhost / database: only an earlier run of ours can be here
    finally:
        broker.close()
    return url


@pytest.fixture
def clock() -> FakeClock:
    # The worker processes run on the real clock; stored orders must not be expired to them.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def extra_settings() -> str:
    # Leases short enough that rows held by a killed worker come back within the test, long
    # enough that a batch of 100 on a loaded machine finishes inside its lease (a lease that
    # runs out mid-send lets another worker send the batch again: more repeats, no loss).
    return f"[outbox]\nlease_s = {LEASE_S}\nlost_after_s = 5.0\n"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"]) as running:
        # Paced, so the faults land mid-run however fast forwarding has become: unpaced, the
        # workers forwarded everything between two polls of the outbox (December 2026).
        running.respond_with(None, delay_s=RESPONSE_DELAY_S)
        yield running


@pytest.fixture
def acme_toml(receiver: WebhookReceiver) -> str:
    return acme_with_webhook(receiver, batch_size=BATCH_SIZE)


def delivered(deployment: Deployment) -> int:
    counts = delivery_counts(deployment.runtime)
    assert counts["dead"] == 0, counts
    return counts["delivered"]


def rows_held(deployment: Deployment) -> dict[str, int]:
    """Rows being sent, by the worker holding them (its id names host and pid)."""
    with deployment.runtime.sessions() as session:
        rows = session.execute(
            sa.select(Delivery.leased_by, sa.func.count())
            .where(Delivery.status == "sending")
            .group_by(Delivery.leased_by)
        ).all()
    return {str(leased_by): count for leased_by, count in rows}


def worker_id(worker: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}:{worker.pid}"  # as pipeline.jobs.actors.worker_identity


@dataclass(frozen=True)
class Kill:
    delivered: int  # when it happened
    rows_held: int  # rows the killed worker had claimed and not yet marked


def test_worker_sigkilled_three_times_loses_nothing(
    deployment: Deployment, receiver: WebhookReceiver, clock: FakeClock, tally: Tally
) -> None:
    client = deployment.config.client("acme")
    purchased = clock.now - timedelta(days=1)
    orders = [synthetic_order(n, purchased) for n in range(ORDERS)]
    with tally.timed("seed"):
        ids = store_orders(deployment.runtime, client, orders)
    assert len(ids) == ORDERS
    tally.orders_in = ORDERS
    jobs = Jobs(make_broker(deployment.config.settings.broker.url), deployment.runtime)
    settings_file = deployment.root / "ordervault.toml"
    workers = [
        start_worker(settings_file, threads=THREADS, log_name=f"worker{n}.stderr")
        for n in range(WORKERS)
    ]
    kills: list[Kill] = []
    try:
        with tally.timed("forward"):
            jobs.enqueue_deliveries(ids)
            deadline = time.monotonic() + DEADLINE_S
            next_sweep = time.monotonic() + SWEEP_EVERY_S
            while time.monotonic() < deadline:
                assert_running(workers, deployment.root)
                done = delivered(deployment)
                if done >= ORDERS:
                    break
                kill_due = len(kills) < KILLS and done >= ORDERS * (len(kills) + 1) // (KILLS + 1)
                if kill_due:
                    # The victim is a worker caught with rows in its hands: mid-batch.
                    held = rows_held(deployment)
                    busy = [n for n, w in enumerate(workers) if held.get(worker_id(w))]
                    if busy:
                        victim = busy[0]
                        workers[victim].send_signal(signal.SIGKILL)
                        workers[victim].wait(timeout=10)
                        kills.append(Kill(done, held[worker_id(workers[victim])]))
                        workers[victim] = start_worker(
                            settings_file, threads=THREADS, log_name=f"worker{victim}.stderr"
                        )
                if time.monotonic() >= next_sweep:
                    jobs.sweep.send()  # what the scheduler does periodically
                    next_sweep = time.monotonic() + SWEEP_EVERY_S
                time.sleep(0.02 if kill_due else 0.2)
    finally:
        for worker in workers:
            stop_worker(worker)
        jobs.close()
        jobs.broker.close()
    stats = receiver.stats
    tally.delivered, tally.repeats = stats.accepted, stats.duplicates
    scheme = deployment.config.settings.broker.url.split(":")[0]
    tally.detail = f"{scheme}, killed at " + ", ".join(
        f"{kill.delivered} holding {kill.rows_held}" for kill in kills
    )

    assert len(kills) == KILLS, f"only {len(kills)} kills before the deadline"
    assert all(kill.delivered < ORDERS for kill in kills), "a kill came after the work was done"
    assert delivered(deployment) == ORDERS
    with deployment.runtime.sessions() as session:
        expected = set(session.scalars(sa.select(Delivery.idempotency_key)))
    accepted = {doc["ordervault"]["idempotency_key"] for doc in receiver.orders}
    assert accepted == expected
    documents = received_documents(receiver)
    # Repeats only carry keys already seen: nothing arrived but the stored orders' own keys.
    assert {doc["ordervault"]["idempotency_key"] for doc in documents} == expected
    assert len(documents) == ORDERS + stats.duplicates
    assert stats.rejected == 0
