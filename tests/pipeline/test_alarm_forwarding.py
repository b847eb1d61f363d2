"""The decrypt-rate alarm: forwarding's decrypts of leased outbox rows do not count, others do."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from connectors.order import Buyer
from pipeline.access import Purpose, claim_and_open, open_orders
from pipeline.alarm import DecryptRateAlarm
from pipeline.destinations.base import Destination, OutgoingOrder
from pipeline.forward import DestinationPool, Forwarder
from pipeline.ingest import Ingestor
from storage import audit, outbox
from storage.models import AuditEvent
from tests.factories import make_order
from tests.fixtures.runtime import Deployment

LIMIT_PER_MINUTE = 5
BURST = 4 * LIMIT_PER_MINUTE


class Accepting(Destination):
    """Takes every batch: what reached the destination, by idempotency key."""

    def __init__(self, *_: object, **__: object) -> None:
        self.name, self.transport, self.batch_size = "erp", "test", 100
        self.keys: list[str] = []

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        self.keys += [order.idempotency_key for order in batch]


def _store(deployment: Deployment, count: int) -> tuple[list[int], list[int]]:
    """(order ids, delivery ids) of `count` stored orders."""
    orders = [
        make_order(
            marketplace_order_id=f"028-5555555-{n:07d}",
            buyer=Buyer(name=f"Alarm Buyer {n}", email=f"alarm{n}@example.invalid"),
        )
        for n in range(count)
    ]
    stored = Ingestor(deployment.runtime).store_many(deployment.config.client("acme"), orders)
    return [s.order_id for s in stored], [d for s in stored for d in s.delivery_ids]


def _events(deployment: Deployment, action: str) -> list[AuditEvent]:
    with deployment.runtime.sessions() as session:
        assert audit.verify(session).ok
        query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


@pytest.fixture
def alarm(deployment: Deployment) -> DecryptRateAlarm:
    deployment.runtime.decrypt_alarm = DecryptRateAlarm(limit_per_minute=LIMIT_PER_MINUTE)
    return deployment.runtime.decrypt_alarm


def test_forwarding_a_burst_above_the_limit_raises_no_alarm_and_is_still_audited(
    deployment: Deployment, alarm: DecryptRateAlarm, caplog: pytest.LogCaptureFixture
) -> None:
    order_ids, delivery_ids = _store(deployment, BURST)
    destination = Accepting()
    forwarder = Forwarder(
        deployment.runtime, DestinationPool(deployment.runtime, lambda *_, **__: destination), "w1"
    )

    report = forwarder.forward(delivery_ids)

    assert report.delivered == BURST
    assert len(destination.keys) == BURST
    assert _events(deployment, "decrypt_alarm") == []
    assert "decrypt alarm" not in caplog.text
    decrypts = _events(deployment, "decrypt")
    assert [(e.actor, e.details) for e in decrypts] == [
        ("worker:w1", {"purpose": "forward", "outcome": "ok", "orders": BURST})
    ]
    assert sorted(decrypts[0].subject["order_ids"]) == sorted(order_ids)


def test_the_same_count_of_other_decrypts_raises_the_alarm(
    deployment: Deployment, alarm: DecryptRateAlarm, caplog: pytest.LogCaptureFixture
) -> None:
    order_ids, _ = _store(deployment, BURST)

    open_orders(deployment.runtime, order_ids, purpose=Purpose.SUPPORT, actor="op:eve")

    alarms = _events(deployment, "decrypt_alarm")
    assert [(a.actor, a.details["decrypts_in_window"]) for a in alarms] == [("op:eve", BURST)]
    assert "decrypt alarm: actor op:eve" in caplog.text


def test_the_forward_purpose_alone_does_not_escape_the_alarm(
    deployment: Deployment, alarm: DecryptRateAlarm
) -> None:
    # Only orders of rows leased through the outbox are exempt, not a caller naming the purpose.
    order_ids, _ = _store(deployment, BURST)

    open_orders(deployment.runtime, order_ids, purpose=Purpose.FORWARD, actor="worker:w9")

    assert [a.actor for a in _events(deployment, "decrypt_alarm")] == ["worker:w9"]


def test_only_rows_leased_to_the_worker_can_be_opened_unalarmed(
    deployment: Deployment, alarm: DecryptRateAlarm
) -> None:
    _, delivery_ids = _store(deployment, 2)
    claimed = outbox.claim(
        deployment.runtime.sessions,
        now=deployment.clock(),
        lease_s=60,
        worker_id="w1",
        limit=2,
        delivery_ids=delivery_ids,
    )
    with pytest.raises(ValueError, match="leased to this worker"):
        claim_and_open(deployment.runtime, lambda _session: claimed, worker_id="w2")
    assert _events(deployment, "decrypt") == []
