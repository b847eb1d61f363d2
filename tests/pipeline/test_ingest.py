"""Storing an order: minimised, sealed, idempotent, readable only through the audited path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.order import Address, Buyer, OrderStatus
from pipeline.access import PiiUnavailableError, Purpose, open_order
from pipeline.clients import PiiPolicy
from pipeline.ingest import Ingestor
from storage import audit
from storage.models import AuditEvent, BlindIndexEntry, Delivery, Order
from tests.factories import make_order
from tests.fixtures.runtime import Deployment

CANARY_NAME = "Canary Zqxjw Buyer"
CANARY_EMAIL = "canary.zqxjw@example.invalid"
CANARY_STREET = "Canarystrasse 987"
CANARIES = (CANARY_NAME, CANARY_EMAIL, CANARY_STREET, "zqxjw")


def canary_order(**overrides: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {
        "buyer": Buyer(name=CANARY_NAME, email=CANARY_EMAIL),
        "shipping_address": Address(
            name=CANARY_NAME, line1=CANARY_STREET, country_code="DE", phone="+49 30 1234567"
        ),
    }
    fields.update(overrides)
    return make_order(**fields)


def _rows_text(deployment: Deployment) -> str:
    """Every clear column of every data table, as text."""
    chunks = []
    with deployment.runtime.sessions() as session:
        for model in (Order, Delivery, BlindIndexEntry, AuditEvent):
            for row in session.execute(sa.select(model)).scalars():
                for column in model.__table__.columns:
                    value = getattr(row, column.key)
                    if not isinstance(value, bytes):
                        chunks.append(str(value))
    return "\n".join(chunks)


def test_store_seals_pii_and_writes_one_outbox_row_per_destination(deployment: Deployment) -> None:
    client = deployment.config.client("acme")
    result = Ingestor(deployment.runtime).store(client, canary_order())
    assert (result.outcome, result.version, len(result.delivery_ids)) == ("created", 1, 1)
    text = _rows_text(deployment)
    for canary in CANARIES:
        assert canary.lower() not in text.lower()
    with deployment.runtime.sessions() as session:
        row = session.get(Order, result.order_id)
        assert row is not None
        assert row.pii_ciphertext is not None
        assert CANARY_EMAIL.encode() not in row.pii_ciphertext
        assert row.bucket_day == row.expires_on
        kinds = {e.kind for e in session.execute(sa.select(BlindIndexEntry)).scalars()}
    assert kinds == {"email", "phone"}


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_sqlite_file_holds_no_canary(deployment: Deployment) -> None:
    Ingestor(deployment.runtime).store(deployment.config.client("acme"), canary_order())
    deployment.runtime.close()
    path = deployment.data_db.url.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        file = Path(path + suffix)
        if not file.exists():
            continue
        data = file.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data


def test_the_same_order_twice_is_a_no_op_and_a_change_is_a_new_version(
    deployment: Deployment,
) -> None:
    client = deployment.config.client("acme")
    ingest = Ingestor(deployment.runtime)
    first = ingest.store(client, canary_order())
    again = ingest.store(client, canary_order())
    assert (again.outcome, again.order_id, again.version, again.delivery_ids) == (
        "unchanged",
        first.order_id,
        1,
        (),
    )
    shipped = ingest.store(client, canary_order(status=OrderStatus.SHIPPED))
    assert (shipped.outcome, shipped.version, len(shipped.delivery_ids)) == ("updated", 2, 1)


def test_open_returns_the_order_and_audits_the_access(deployment: Deployment) -> None:
    client = deployment.config.client("acme")
    order = canary_order()
    stored = Ingestor(deployment.runtime).store(client, order)
    opened = open_order(
        deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="op:ana"
    )
    assert opened == order
    with deployment.runtime.sessions() as session:
        [event] = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "decrypt")
        ).scalars()
        assert audit.verify(session).ok
    assert (event.action, event.actor, event.details["purpose"]) == ("decrypt", "op:ana", "support")
    assert event.subject["order_id"] == stored.order_id


def test_client_pii_policy_drops_fields_before_sealing(deployment: Deployment) -> None:
    client = deployment.config.client("acme").model_copy(
        update={"pii": PiiPolicy(drop=["shipping_address.phone"])}
    )
    stored = Ingestor(deployment.runtime).store(client, canary_order())
    opened = open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="t")
    assert opened.shipping_address is not None
    assert opened.shipping_address.phone is None
    assert opened.shipping_address.line1 == CANARY_STREET


def test_an_order_past_its_retention_is_stored_without_pii(deployment: Deployment) -> None:
    now = deployment.clock.now
    delivered = now - timedelta(days=40)
    old = canary_order(
        status=OrderStatus.DELIVERED,
        purchased_at=delivered - timedelta(days=3),
        updated_at=delivered,
        delivered_at=delivered,
    )
    stored = Ingestor(deployment.runtime).store(deployment.config.client("acme"), old)
    assert stored.delivery_ids == ()
    with deployment.runtime.sessions() as session:
        row = session.get(Order, stored.order_id)
        assert row is not None
        assert (row.pii_ciphertext, row.shred_reason) == (None, "expired_on_arrival")
    with pytest.raises(PiiUnavailableError):
        open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="t")


def test_a_destroyed_bucket_makes_the_order_unreadable_and_that_is_audited(
    deployment: Deployment,
) -> None:
    stored = Ingestor(deployment.runtime).store(deployment.config.client("acme"), canary_order())
    with deployment.runtime.sessions() as session:
        row = session.get(Order, stored.order_id)
        assert row is not None
        assert row.bucket_day is not None
        day = row.bucket_day
    deployment.runtime.vault.destroy_bucket("acme", day, deployment.clock.now)
    with pytest.raises(PiiUnavailableError, match="unreadable"):
        open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="t")
    with deployment.runtime.sessions() as session:
        [event] = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "decrypt")
        ).scalars()
    assert event.details["outcome"] == "unreadable"


def test_an_update_to_a_shredded_order_does_not_bring_its_pii_back(deployment: Deployment) -> None:
    client = deployment.config.client("acme")
    ingest = Ingestor(deployment.runtime)
    stored = ingest.store(client, canary_order())
    with deployment.runtime.sessions.begin() as session:
        from storage import mark_shredded

        mark_shredded(session, stored.order_id, reason="erased", now=deployment.clock.now)
    again = ingest.store(client, canary_order(status=OrderStatus.SHIPPED))
    assert (again.outcome, again.delivery_ids) == ("unchanged", ())
    with deployment.runtime.sessions() as session:
        row = session.get(Order, stored.order_id)
        assert row is not None
        assert row.pii_ciphertext is None


def test_too_many_decrypts_by_one_actor_raise_one_alarm_per_window(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.alarm import DecryptRateAlarm

    deployment.runtime.decrypt_alarm = DecryptRateAlarm(limit_per_minute=3)
    stored = Ingestor(deployment.runtime).store(deployment.config.client("acme"), canary_order())
    for _ in range(6):
        open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="op:eve")
    open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="op:ana")
    with deployment.runtime.sessions() as session:
        alarms = [
            e
            for e in session.execute(sa.select(AuditEvent)).scalars()
            if e.action == "decrypt_alarm"
        ]
    assert [(a.actor, a.details["decrypts_in_window"]) for a in alarms] == [("op:eve", 4)]
    assert "decrypt alarm: actor op:eve" in caplog.text
    deployment.clock.advance(minutes=2)
    for _ in range(4):
        open_order(deployment.runtime, stored.order_id, purpose=Purpose.SUPPORT, actor="op:eve")
    with deployment.runtime.sessions() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "decrypt_alarm")
        )
    assert count == 2


def test_opening_a_runtime_audits_the_configuration_it_loaded(deployment: Deployment) -> None:
    with deployment.runtime.sessions() as session:
        [event] = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "config_load")
        ).scalars()
    assert event.details["clients"] == ["acme"]
    assert len(event.details["digest"]) == 64
    assert all(value not in str(event.details) for value in ("synthetic", "whsec"))


def test_store_pages_stores_like_store_many_page_by_page(deployment: Deployment) -> None:
    client = deployment.config.client("acme")
    ingest = Ingestor(deployment.runtime)
    orders = [canary_order(marketplace_order_id=f"305-0000000-{n:07d}") for n in range(7)]
    pages = [orders[0:3], orders[3:6], orders[6:7]]
    first = list(ingest.store_pages(client, pages))
    assert [[r.outcome for r in page] for page in first] == [
        ["created"] * 3,
        ["created"] * 3,
        ["created"],
    ]
    # Again, with one order changed and one page repeated within the run: unchanged orders
    # are found although every order of a page was sealed before the read.
    changed = canary_order(marketplace_order_id="305-0000000-0000004", status=OrderStatus.SHIPPED)
    again = list(ingest.store_pages(client, [orders[0:3], [orders[3], changed], orders[0:3]]))
    assert [[r.outcome for r in page] for page in again] == [
        ["unchanged"] * 3,
        ["unchanged", "updated"],
        ["unchanged"] * 3,
    ]
    assert again[1][1].version == 2
    assert [r.order_id for r in again[0]] == [r.order_id for r in first[0]]
    text = _rows_text(deployment)
    for canary in CANARIES:
        assert canary.lower() not in text.lower()
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 7
        deliveries = session.scalar(sa.select(sa.func.count()).select_from(Delivery))
    assert deliveries == 8  # one per created order and one for the new version
