"""The leak scan reads RabbitMQ and Redis queues and dead letters without consuming them."""

from __future__ import annotations

import json
import uuid

import dramatiq
import pytest

from pipeline.jobs.actors import FORWARD_QUEUE, Jobs
from pipeline.jobs.broker import make_broker
from pipeline.jobs.queued import queued_messages
from pipeline.leak_scan import scan
from tests.fixtures.runtime import Deployment

CANARY = "canary.dead.letter@example.invalid"

pytestmark = pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    broker = make_broker(url)
    try:
        for queue in ("ordervault-pull", FORWARD_QUEUE, "ordervault-maintenance"):
            broker.declare_queue(queue)
        broker.flush_all()
    finally:
        broker.close()
    return url


def _dead_letter(broker: dramatiq.Broker, body: dict[str, object]) -> None:
    """Put a message straight into the forward queue's dead letters, as a failed actor would."""
    message = dramatiq.Message(
        queue_name=FORWARD_QUEUE,
        actor_name="forward",
        args=(body,),
        kwargs={},
        options={},
        message_id=str(uuid.uuid4()),
    )
    if broker.__class__.__name__ == "RabbitmqBroker":
        broker.channel.basic_publish(  # type: ignore[attr-defined]
            exchange="", routing_key=f"{FORWARD_QUEUE}.XQ", body=message.encode()
        )
    else:
        client = broker.client  # type: ignore[attr-defined]
        client.hset(f"ordervault:{FORWARD_QUEUE}.XQ.msgs", message.message_id, message.encode())


def test_ids_only_messages_scan_clean_and_a_planted_canary_is_found(
    deployment: Deployment, broker_url: str
) -> None:
    broker = make_broker(broker_url)
    jobs = Jobs(broker, deployment.runtime)
    try:
        jobs.forward.send([1, 2, 3])  # what the pipeline sends: ids only
        clean = scan(deployment.runtime)
        assert clean.broker_messages_scanned >= 1
        assert clean.findings == []

        _dead_letter(broker, {"buyer": CANARY})
        found = scan(deployment.runtime)
        assert {(f.source, f.kind) for f in found.findings} == {
            (f"broker:{FORWARD_QUEUE}.XQ", "email")
        }
        assert CANARY not in json.dumps([f.__dict__ for f in found.findings])
        # Reading left everything in place.
        queues = [m.queue for m in queued_messages(deployment.config.settings.broker.connect_url)]
        assert queues.count(FORWARD_QUEUE) == 1
        assert queues.count(f"{FORWARD_QUEUE}.XQ") == 1
    finally:
        broker.flush_all()
        jobs.close()
        broker.close()
