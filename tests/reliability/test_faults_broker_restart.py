"""RabbitMQ crashes and restarts while orders are forwarded: nothing is lost.

The test runs a RabbitMQ node of its own (see `tests.reliability.faults.RabbitMQ`). Mid-run the
node is SIGKILLed and started again on its data (durable queues, persistent messages: what was
confirmed survives, unacknowledged messages come back); later it is killed, its data wiped and
started empty, so every queued message is lost and only the sweeper, which re-enqueues outbox
rows no message has claimed, can bring the work back. Every order must still arrive, and a
repeat may only carry an idempotency key already seen.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
import sqlalchemy as sa

from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from storage.models import Delivery
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment, FakeClock
from tests.reliability.faults import (
    RabbitNode,
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

# At least 1000: each worker thread holds up to 50 rows at a time (a message tops its claim
# up), and the broker must go down twice while work is left.
ORDERS = max(1000, fault_orders(5000) // 5)
BATCH_SIZE = 25
WORKERS = 2
THREADS = 2
# Per request: with WORKERS x THREADS batches in flight, a run lasts seconds, not a poll.
RESPONSE_DELAY_S = 0.25
SWEEP_EVERY_S = 3.0
DEADLINE_S = 180.0 + ORDERS * 0.1

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.parametrize("deployment", ["postgresql"], indirect=True),
]


@pytest.fixture
def broker_url(rabbit_node: RabbitNode) -> str:
    return rabbit_node.url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))  # the workers run on the real clock


@pytest.fixture
def extra_settings() -> str:
    return "[outbox]\nlease_s = 5.0\nlost_after_s = 5.0\n"


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


class Progress:
    """Polls the outbox, sweeping every few seconds (the scheduler's job) until a condition."""

    def __init__(
        self, deployment: Deployment, jobs: Jobs, workers: list[subprocess.Popen[bytes]]
    ) -> None:
        self.deployment = deployment
        self.jobs = jobs
        self.workers = workers
        self.deadline = time.monotonic() + DEADLINE_S
        self.next_sweep = time.monotonic() + SWEEP_EVERY_S
        self.failed_sweeps = 0

    def delivered(self) -> int:
        counts = delivery_counts(self.deployment.runtime)
        assert counts["dead"] == 0, counts
        return counts["delivered"]

    def until(self, done: Callable[[int], bool]) -> int:
        while time.monotonic() < self.deadline:
            assert_running(self.workers, self.deployment.root)
            delivered = self.delivered()
            if done(delivered):
                return delivered
            if time.monotonic() >= self.next_sweep:
                try:
                    self.jobs.sweep.send()
                except dramatiq.errors.ConnectionError:
                    self.failed_sweeps += 1  # the broker is down: the next tick tries again
                self.next_sweep = time.monotonic() + SWEEP_EVERY_S
            time.sleep(0.2)
        return self.delivered()


def test_rabbitmq_crash_and_data_loss_mid_run_lose_nothing(
    deployment: Deployment,
    rabbit_node: RabbitNode,
    receiver: WebhookReceiver,
    clock: FakeClock,
    tally: Tally,
) -> None:
    client = deployment.config.client("acme")
    purchased = clock.now - timedelta(days=1)
    orders = [synthetic_order(n, purchased) for n in range(ORDERS)]
    with tally.timed("seed"):
        ids = store_orders(deployment.runtime, client, orders)
    tally.orders_in = len(ids)
    jobs = Jobs(make_broker(rabbit_node.url), deployment.runtime)
    settings_file = deployment.root / "ordervault.toml"
    workers = [
        start_worker(settings_file, threads=THREADS, log_name=f"worker{n}.stderr")
        for n in range(WORKERS)
    ]
    progress = Progress(deployment, jobs, workers)
    try:
        with tally.timed("forward"):
            jobs.enqueue_deliveries(ids)
            crashed_at = progress.until(lambda done: done >= ORDERS // 10)
            rabbit_node.kill()
            with tally.timed("restart"):
                rabbit_node.start()
            wiped_at = progress.until(lambda done: done >= crashed_at + ORDERS // 10)
            rabbit_node.kill()
            rabbit_node.wipe()
            with tally.timed("restart_empty"):
                rabbit_node.start()
            progress.until(lambda done: done >= ORDERS)
    finally:
        for worker in workers:
            stop_worker(worker)
        jobs.close()
        jobs.broker.close()
    stats = receiver.stats
    tally.delivered, tally.repeats = stats.accepted, stats.duplicates
    tally.detail = (
        f"crashed at {crashed_at}, wiped at {wiped_at}, {progress.failed_sweeps} sweeps failed"
    )
    stderr = (deployment.root / "worker0.stderr").read_text(errors="replace")

    assert max(crashed_at, wiped_at) < ORDERS, "the broker went down after the work was done"
    assert progress.delivered() == ORDERS, stderr[-3000:]
    with deployment.runtime.sessions() as session:
        expected = set(session.scalars(sa.select(Delivery.idempotency_key)))
    assert {doc["ordervault"]["idempotency_key"] for doc in receiver.orders} == expected
    documents = received_documents(receiver)
    assert {doc["ordervault"]["idempotency_key"] for doc in documents} == expected
    assert len(documents) == ORDERS + stats.duplicates
