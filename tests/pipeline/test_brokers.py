"""Forwarding through RabbitMQ and Redis with real worker processes, one of them SIGKILLed.

Every stored order must reach the receiver; a repeat may only carry an idempotency key the
receiver has already seen (at-least-once with deduplication).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.order import Buyer
from pipeline.ingest import Ingestor
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from storage import outbox
from tests.configs import ACME, ENVIRON
from tests.factories import make_order
from tests.fixtures.runtime import Deployment, FakeClock

ORDERS = 200
DEADLINE_S = 60.0

pytestmark = pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    broker = make_broker(url)
    try:
        for queue in ("ordervault-forward", "ordervault-maintenance"):
            broker.declare_queue(queue)
        broker.flush_all()  # no stale message from an earlier run may claim this run's rows
    finally:
        broker.close()
    return url


@pytest.fixture
def clock() -> FakeClock:
    # The worker processes run on the real clock; stored orders must not be expired to them.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def extra_settings() -> str:
    # Short leases so rows held by the killed worker come back within the test.
    return "[outbox]\nlease_s = 3.0\nlost_after_s = 1.0\n"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"]) as running:
        # Slow enough that the kill lands mid-run.
        running.respond_with(None, delay_s=0.01)
        yield running


@pytest.fixture
def acme_toml(receiver: WebhookReceiver) -> str:
    return ACME.replace(
        'url = "https://erp.acme.example/orders"',
        f'url = "{receiver.url}"\ninsecure_loopback = true\nca_file = "{receiver.ca_file}"',
    )


def start_worker(settings_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **ENVIRON}
    # stderr to a file, not a pipe: an unread pipe that fills up would block the worker.
    stderr = (settings_file.parent / "worker.stderr").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "--config",
            str(settings_file),
            "worker",
            "--processes",
            "1",
            "--threads",
            "4",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def delivered(deployment: Deployment) -> int:
    with deployment.runtime.sessions() as session:
        counts = outbox.counts_by_status(session)
    assert counts["dead"] == 0, counts
    return counts["delivered"]


def test_sigkilled_worker_loses_nothing(
    deployment: Deployment, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    ingest = Ingestor(deployment.runtime)
    purchased = clock.now - timedelta(days=1)
    client = deployment.config.client("acme")
    ids: list[int] = []
    for n in range(ORDERS):
        order = make_order(
            marketplace_order_id=f"028-1111111-{n:07d}",
            purchased_at=purchased,
            updated_at=purchased,
            latest_delivery_by=purchased + timedelta(days=5),
            buyer=Buyer(name=f"Synthetic Buyer {n}", email=f"b{n}@example.invalid"),
        )
        ids += ingest.store(client, order).delivery_ids
    jobs = Jobs(make_broker(deployment.config.settings.broker.url), deployment.runtime)
    settings_file = deployment.root / "ordervault.toml"
    worker = start_worker(settings_file)
    try:
        assert len(ids) == ORDERS
        jobs.enqueue_deliveries(ids)
        deadline = time.monotonic() + DEADLINE_S
        # Watch the receiver, not the outbox: a worker marks a whole claim delivered at once.
        while receiver.stats.accepted < ORDERS // 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = delivered(deployment)
        assert killed_at < ORDERS, "the worker finished before it could be killed"
        worker = start_worker(settings_file)
        while delivered(deployment) < ORDERS and time.monotonic() < deadline:
            jobs.sweep.send()  # what the scheduler does periodically
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        jobs.close()
        jobs.broker.close()
    stderr = (settings_file.parent / "worker.stderr").read_text(errors="replace")
    assert delivered(deployment) == ORDERS, stderr[-3000:]
    assert len(receiver.orders) == ORDERS
    keys = {doc["ordervault"]["idempotency_key"] for doc in receiver.orders}
    assert len(keys) == ORDERS
    print(
        f"orders in {ORDERS}, delivered {receiver.stats.accepted}, "
        f"repeats {receiver.stats.duplicates} (killed after {killed_at})"
    )
