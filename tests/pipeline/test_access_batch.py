"""`open_orders`: many orders opened with one read, audited per outcome, never past a version."""

from __future__ import annotations

import sqlalchemy as sa

from connectors.order import Buyer
from pipeline.access import Purpose, open_orders
from pipeline.ingest import Ingestor
from storage import audit, mark_shredded, write_session
from storage.models import AuditEvent
from tests.factories import make_order
from tests.fixtures.runtime import Deployment

CANARY = "Canary Bqtch"


def _store(deployment: Deployment, count: int) -> list[int]:
    client = deployment.config.client("acme")
    orders = [
        make_order(
            marketplace_order_id=f"028-4444444-{n:07d}",
            buyer=Buyer(name=f"{CANARY} {n}", email=f"bqtch{n}@example.invalid"),
        )
        for n in range(count)
    ]
    return [r.order_id for r in Ingestor(deployment.runtime).store_many(client, orders)]


def _events(deployment: Deployment) -> list[AuditEvent]:
    with deployment.runtime.sessions() as session:
        assert audit.verify(session).ok
        query = sa.select(AuditEvent).where(AuditEvent.action == "decrypt")
        return list(session.execute(query.order_by(AuditEvent.id)).scalars())


def test_opens_many_orders_and_audits_them_by_outcome(deployment: Deployment) -> None:
    ids = _store(deployment, 5)
    with write_session(deployment.runtime.sessions) as session:
        mark_shredded(session, ids[4], reason="erased", now=deployment.runtime.clock())

    opened = open_orders(
        deployment.runtime,
        [*ids, 999_999],
        purpose=Purpose.FORWARD,
        actor="worker:w1",
        versions={ids[0]: 1, ids[3]: 2},  # order 3 is still at version 1: 2 is not stored
    )

    assert {i: o.outcome for i, o in opened.items()} == {
        ids[0]: "ok",
        ids[1]: "ok",
        ids[2]: "ok",
        ids[3]: "superseded",
        ids[4]: "shredded",
        999_999: "missing",
    }
    assert opened[ids[1]].order is not None
    assert opened[ids[1]].order.buyer is not None
    assert opened[ids[1]].order.buyer.name == f"{CANARY} 1"
    assert opened[ids[3]].order is None
    events = _events(deployment)
    assert [(e.details["outcome"], e.details["orders"]) for e in events] == [
        ("ok", 3),
        ("shredded", 1),
    ]
    assert events[0].subject["order_ids"] == ids[:3]
    assert events[0].subject["versions"] == [1, 1, 1]
    assert {e.actor for e in events} == {"worker:w1"}
    assert {e.details["purpose"] for e in events} == {"forward"}
    assert CANARY not in repr([(e.subject, e.details) for e in events])


def test_nothing_to_open_appends_nothing(deployment: Deployment) -> None:
    ids = _store(deployment, 1)
    opened = open_orders(
        deployment.runtime, ids, purpose=Purpose.FORWARD, actor="w", versions={ids[0]: 7}
    )
    assert opened[ids[0]].outcome == "superseded"
    assert _events(deployment) == []
