"""Storing orders on given days, and asking whether their PII can still be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.order import Buyer, OrderStatus
from pipeline.access import PiiUnavailableError, Purpose, open_order
from pipeline.ingest import Ingestor
from storage.models import AuditEvent, Order
from tests.factories import make_order
from tests.fixtures.runtime import Deployment


def day_start(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def store(deployment: Deployment, order_no: str, **overrides: Any) -> int:
    """Ingest a synthetic order for acme; returns its id."""
    fields: dict[str, Any] = {
        "marketplace_order_id": f"028-{order_no}",
        "buyer": Buyer(name="Test Buyer", email=f"buyer-{order_no}@example.invalid"),
    }
    fields.update(overrides)
    client = deployment.config.client(fields.get("client_id", "acme"))
    return Ingestor(deployment.runtime).store(client, make_order(**fields)).order_id


def store_delivered(deployment: Deployment, order_no: str, delivered_at: datetime) -> int:
    return store(
        deployment,
        order_no,
        status=OrderStatus.DELIVERED,
        purchased_at=delivered_at - timedelta(days=3),
        updated_at=delivered_at,
        latest_delivery_by=delivered_at,
        delivered_at=delivered_at,
    )


def readable(deployment: Deployment, order_id: int) -> bool:
    try:
        open_order(deployment.runtime, order_id, purpose=Purpose.SUPPORT, actor="test")
    except PiiUnavailableError:
        return False
    return True


def order_row(deployment: Deployment, order_id: int) -> Order:
    with deployment.runtime.sessions() as session:
        row = session.get(Order, order_id)
        assert row is not None
        session.expunge(row)
        return row


def audit_events(deployment: Deployment, action: str) -> list[AuditEvent]:
    with deployment.runtime.sessions() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def audit_text(deployment: Deployment) -> str:
    with deployment.runtime.sessions() as session:
        rows = session.scalars(sa.select(AuditEvent)).all()
        return "\n".join(f"{r.actor} {r.action} {r.subject} {r.details}" for r in rows)
