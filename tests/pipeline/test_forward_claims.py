"""One forward claim: leased and opened in one transaction, audited before any send, batch-sized."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from connectors.order import Buyer
from pipeline import access
from pipeline.destinations.base import Destination, OutgoingOrder
from pipeline.forward import DestinationPool, Forwarder
from pipeline.ingest import Ingestor
from storage import audit, outbox
from storage.models import AuditEvent, Delivery
from tests.factories import make_order
from tests.fixtures.runtime import Deployment


class Recording(Destination):
    """Records each request; at each send, asks `on_send` what the database shows."""

    def __init__(self, batch_size: int, on_send: object = None) -> None:
        self.name, self.transport, self.batch_size = "erp", "test", batch_size
        self.requests: list[list[str]] = []
        self.on_send = on_send

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        if callable(self.on_send):
            self.on_send(batch)
        self.requests.append([order.idempotency_key for order in batch])


def _store(deployment: Deployment, count: int) -> list[int]:
    """Delivery ids of `count` stored orders."""
    orders = [
        make_order(
            marketplace_order_id=f"171-4444444-{n:07d}",
            buyer=Buyer(name=f"Claim Buyer {n}", email=f"claim{n}@example.invalid"),
        )
        for n in range(count)
    ]
    stored = Ingestor(deployment.runtime).store_many(deployment.config.client("acme"), orders)
    return [d for s in stored for d in s.delivery_ids]


def _forwarder(deployment: Deployment, destination: Destination) -> Forwarder:
    pool = DestinationPool(deployment.runtime, lambda *_, **__: destination)
    return Forwarder(deployment.runtime, pool, "w1")


def _decrypted_order_ids(deployment: Deployment) -> list[int]:
    """Order ids named by committed decrypt events, read in a session of its own."""
    with deployment.runtime.sessions() as session:
        events = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "decrypt"))
        return sorted(i for e in events for i in e.subject["order_ids"])


def _statuses(deployment: Deployment, ids: Sequence[int]) -> set[str]:
    with deployment.runtime.sessions() as session:
        query = sa.select(Delivery.status).where(Delivery.id.in_(list(ids)))
        return set(session.scalars(query))


def test_a_batching_destination_is_claimed_up_to_its_batch_size_and_sent_in_one_request(
    deployment: Deployment,
) -> None:
    delivery_ids = _store(deployment, 130)
    destination = Recording(batch_size=120)

    # A message of 3 rows (a sweep's leftovers, say) tops up to the batch size, not to 50.
    report = _forwarder(deployment, destination).forward(delivery_ids[:3])

    assert report.delivered == 120
    assert [len(request) for request in destination.requests] == [120]
    assert _statuses(deployment, delivery_ids[120:]) == {"pending"}


def test_a_single_order_destination_still_tops_up_to_the_message_rows(
    deployment: Deployment,
) -> None:
    delivery_ids = _store(deployment, 60)
    destination = Recording(batch_size=1)

    report = _forwarder(deployment, destination).forward(delivery_ids[:2])

    assert report.delivered == 50
    assert [len(request) for request in destination.requests] == [1] * 50


def test_every_send_comes_after_the_decrypt_event_of_its_orders_committed(
    deployment: Deployment,
) -> None:
    delivery_ids = _store(deployment, 5)
    with deployment.runtime.sessions() as session:
        query = sa.select(Delivery.order_id).where(Delivery.id.in_(delivery_ids))
        order_ids = sorted(session.scalars(query))
    seen_at_send: list[list[int]] = []
    destination = Recording(
        batch_size=1, on_send=lambda _: seen_at_send.append(_decrypted_order_ids(deployment))
    )

    _forwarder(deployment, destination).forward(delivery_ids)

    assert len(seen_at_send) == 5
    assert all(seen == order_ids for seen in seen_at_send)
    with deployment.runtime.sessions() as session:
        assert audit.verify(session).ok


def test_when_the_claim_and_its_decrypt_event_do_not_commit_nothing_is_sent_or_leased(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery_ids = _store(deployment, 4)
    destination = Recording(batch_size=10)
    # The decrypt event is written with the commit (`append_at_commit`).
    real_append = audit.append_at_commit

    def append_then_fail(*args: object, **kwargs: object) -> object:
        real_append(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("database went away before commit")

    monkeypatch.setattr(audit, "append_at_commit", append_then_fail)

    with pytest.raises(RuntimeError, match="went away"):
        _forwarder(deployment, destination).forward(delivery_ids)

    assert destination.requests == []
    assert _statuses(deployment, delivery_ids) == {"pending"}  # the lease rolled back with it
    assert _decrypted_order_ids(deployment) == []
    monkeypatch.setattr(audit, "append_at_commit", real_append)
    report = _forwarder(deployment, destination).forward(delivery_ids)
    assert report.delivered == 4


def test_claim_and_open_hands_out_pii_only_for_rows_leased_to_the_worker(
    deployment: Deployment,
) -> None:
    delivery_ids = _store(deployment, 2)
    runtime = deployment.runtime

    def lease_to_someone_else(session: object) -> list[outbox.ClaimedDelivery]:
        return outbox.claim(
            session,  # type: ignore[arg-type]
            now=runtime.clock(),
            lease_s=60,
            worker_id="w2",
            limit=2,
            delivery_ids=delivery_ids,
        )

    with pytest.raises(ValueError, match="leased to this worker"):
        access.claim_and_open(runtime, lease_to_someone_else, worker_id="w1")
    assert _statuses(deployment, delivery_ids) == {"pending"}
    assert _decrypted_order_ids(deployment) == []
