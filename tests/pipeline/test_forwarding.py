"""Forwarding from the outbox through the inline broker to a real HTTPS receiver on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.order import Address, Buyer
from pipeline.ingest import Ingestor
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from storage import audit, outbox, write_session
from storage.models import AuditEvent, Delivery
from tests.configs import ACME, ENVIRON
from tests.factories import make_order
from tests.fixtures.runtime import Deployment, FakeClock

CANARY = "Canary Fwdqz"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"]) as running:
        yield running


@pytest.fixture
def batch_size() -> int:
    return 1


@pytest.fixture
def acme_toml(receiver: WebhookReceiver, batch_size: int) -> str:
    return ACME.replace(
        'url = "https://erp.acme.example/orders"',
        f'url = "{receiver.url}"\ninsecure_loopback = true\nca_file = "{receiver.ca_file}"\n'
        f"batch_size = {batch_size}",
    )


@pytest.fixture
def jobs(deployment: Deployment) -> Iterator[Jobs]:
    running = Jobs(make_broker("inline"), deployment.runtime)
    yield running
    running.close()


def store_orders(deployment: Deployment, count: int) -> list[int]:
    ingest = Ingestor(deployment.runtime)
    client = deployment.config.client("acme")
    ids: list[int] = []
    for n in range(count):
        order = make_order(
            marketplace_order_id=f"028-0000000-{n:07d}",
            buyer=Buyer(name=f"{CANARY} {n}", email=f"canary.fwdqz.{n}@example.invalid"),
            shipping_address=Address(name=f"{CANARY} {n}", line1="Canaryweg 1", country_code="DE"),
        )
        ids += ingest.store(client, order).delivery_ids
    return ids


def counts(deployment: Deployment) -> dict[str, int]:
    with deployment.runtime.sessions() as session:
        return {k: v for k, v in outbox.counts_by_status(session).items() if v}


def test_every_stored_order_reaches_the_receiver_once(
    deployment: Deployment, jobs: Jobs, receiver: WebhookReceiver
) -> None:
    delivery_ids = store_orders(deployment, 12)
    # One message carries up to TOP_UP_ROWS single-order sends.
    assert jobs.enqueue_deliveries(delivery_ids) == 1
    jobs.drain()
    assert counts(deployment) == {"delivered": 12}
    assert receiver.stats.accepted == 12
    assert receiver.stats.duplicates == 0
    assert {doc["order"]["buyer"]["name"] for doc in receiver.orders} == {
        f"{CANARY} {n}" for n in range(12)
    }
    with deployment.runtime.sessions() as session:
        events = list(session.execute(sa.select(AuditEvent)).scalars())
        assert audit.verify(session).ok
    # Every order's decrypt and send is audited, in as few events as the claims allowed.
    decrypted = [i for e in events if e.action == "decrypt" for i in e.subject["order_ids"]]
    assert sorted(decrypted) == sorted(set(decrypted))
    assert len(decrypted) == 12
    assert sum(e.details["orders"] for e in events if e.action == "decrypt") == 12
    assert {e.details["outcome"] for e in events if e.action == "decrypt"} == {"ok"}
    forwarded = [i for e in events if e.action == "forward" for i in e.subject["delivery_ids"]]
    assert sorted(forwarded) == sorted(delivery_ids)
    # Enqueueing the same rows again is harmless: nothing is claimable, nothing is re-sent.
    jobs.enqueue_deliveries(delivery_ids)
    jobs.drain()
    assert receiver.stats.requests == 12


@pytest.mark.parametrize("batch_size", [5])
def test_batch_mode_posts_up_to_n_orders_at_once(
    deployment: Deployment, jobs: Jobs, receiver: WebhookReceiver
) -> None:
    delivery_ids = store_orders(deployment, 12)
    assert jobs.enqueue_deliveries(delivery_ids) == 1
    jobs.drain()
    assert receiver.stats.requests == 3
    assert receiver.stats.accepted == 12
    assert counts(deployment) == {"delivered": 12}


def test_receiver_down_then_up_delivers_everything(
    deployment: Deployment,
    jobs: Jobs,
    receiver: WebhookReceiver,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond_with(503, retry_after="30", echo=True)
    jobs.enqueue_deliveries(store_orders(deployment, 6))
    jobs.drain()
    # A claim stops at its first failed send and hands the rest back unsent (pending, due
    # with the failed row), rather than spend attempts on a receiver that is down.
    after = counts(deployment)
    assert after["failed"] >= 1
    assert after["failed"] + after.get("pending", 0) == 6
    assert receiver.stats.requests == after["failed"]
    with deployment.runtime.sessions() as session:
        rows = list(session.execute(sa.select(Delivery)).scalars())
    errors = {d.last_error for d in rows if d.status == "failed"}
    assert all(error and "503" in error for error in errors)
    assert all(d.attempts == (1 if d.status == "failed" else 0) for d in rows)
    assert len({d.next_attempt_at for d in rows}) <= after["failed"]
    # Nothing of the order (echoed back by the failing receiver) reached errors or logs.
    assert CANARY not in " ".join(e or "" for e in errors)
    assert CANARY.lower() not in caplog.text.lower()

    receiver.reset_responses()
    clock.advance(hours=2)  # past every backoff, and past the sweeper's "lost" horizon
    jobs.sweep.send()
    jobs.drain()
    assert counts(deployment) == {"delivered": 6}
    assert receiver.stats.accepted == 6


def test_permanent_rejection_is_dead_until_replayed(
    deployment: Deployment, jobs: Jobs, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    receiver.respond_with(400)
    ids = store_orders(deployment, 3)
    jobs.enqueue_deliveries(ids)
    jobs.drain()
    assert counts(deployment) == {"dead": 3}
    # The sweeper never resurrects dead rows.
    clock.advance(hours=1)
    jobs.sweep.send()
    jobs.drain()
    assert counts(deployment) == {"dead": 3}

    receiver.reset_responses()
    with write_session(deployment.runtime.sessions) as session:
        replayed = outbox.requeue(session, now=clock.now, statuses={"dead"}, client_id="acme")
    jobs.enqueue_deliveries(replayed)
    jobs.drain()
    assert counts(deployment) == {"delivered": 3}
    assert receiver.stats.accepted == 3


def test_a_newer_version_supersedes_an_undelivered_older_one(
    deployment: Deployment, jobs: Jobs, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    from connectors.order import OrderStatus

    ingest = Ingestor(deployment.runtime)
    client = deployment.config.client("acme")
    first = ingest.store(client, make_order())
    clock.advance(minutes=1)
    second = ingest.store(client, make_order(status=OrderStatus.SHIPPED))
    jobs.enqueue_deliveries([*first.delivery_ids, *second.delivery_ids])
    jobs.drain()
    assert counts(deployment) == {"delivered": 1, "superseded": 1}
    [document] = receiver.orders
    assert document["ordervault"]["order_version"] == 2
    assert document["order"]["status"] == "shipped"
    assert clock.now - timedelta(minutes=1) < clock.now


def test_replay_command_delivers_dead_rows_once_the_receiver_accepts(
    deployment: Deployment,
    jobs: Jobs,
    receiver: WebhookReceiver,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    receiver.respond_with(422)
    jobs.enqueue_deliveries(store_orders(deployment, 4))
    jobs.drain()
    assert counts(deployment) == {"dead": 4}
    receiver.reset_responses()
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    args = ["--config", str(deployment.root / "ordervault.toml"), "replay", "--client", "acme"]
    result = CliRunner().invoke(app, [*args, "--now", clock.now.isoformat()])
    assert result.exit_code == 0, result.output + result.stderr
    assert "4 deliveries requeued" in result.output
    assert counts(deployment) == {"delivered": 4}
    # Idempotent: nothing is left to replay, nothing is sent twice.
    result = CliRunner().invoke(app, [*args, "--now", clock.now.isoformat()])
    assert "0 deliveries requeued" in result.output
    assert receiver.stats.accepted == 4


def test_a_claim_running_out_of_lease_time_hands_the_rest_back_to_be_sent_again(
    deployment: Deployment,
    jobs: Jobs,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = store_orders(deployment, 5)
    # The claim is made at 0 s and the first send starts at 0 s; every later look at the
    # clock is past half the lease.
    readings = iter([0.0, 0.0])
    monkeypatch.setattr("pipeline.forward.time.monotonic", lambda: next(readings, 1e9))

    report = jobs.forwarder.forward([ids[0]])

    assert report.delivered == 1
    assert sorted(report.requeue_ids) == ids[1:]
    assert receiver.stats.accepted == 1
    with deployment.runtime.sessions() as session:
        rows = {d.id: d for d in session.execute(sa.select(Delivery)).scalars()}
    assert [(rows[i].status, rows[i].attempts) for i in ids[1:]] == [("pending", 0)] * 4
    monkeypatch.undo()
    jobs.enqueue_deliveries(report.requeue_ids)
    jobs.drain()
    assert counts(deployment) == {"delivered": 5}
    assert receiver.stats.duplicates == 0


def test_rows_left_for_want_of_lease_time_are_requeued_even_after_a_permanent_failure(
    deployment: Deployment,
    jobs: Jobs,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = store_orders(deployment, 3)
    receiver.respond_with(400)
    readings = iter([0.0, 0.0])
    monkeypatch.setattr("pipeline.forward.time.monotonic", lambda: next(readings, 1e9))

    report = jobs.forwarder.forward([ids[0]])

    # The first order was refused for good; the others were never tried and are due now.
    assert (report.dead, report.delivered) == (1, 0)
    assert sorted(report.requeue_ids) == ids[1:]
    assert counts(deployment) == {"dead": 1, "pending": 2}
