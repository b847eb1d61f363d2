"""Data keys follow delivery; undelivered orders are extended up to their cap, then shredded."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from connectors.order import OrderStatus
from pipeline.clients import ClientConfig
from pipeline.retention import MoveOutcome, planned_day, rewrap_to_expiry, run_expiry
from storage import write_session
from storage.models import Order
from tests.fixtures.runtime import Deployment
from tests.retention.helpers import audit_events, day_start, order_row, readable, store


def _deliver_in_clear_columns(deployment: Deployment, order_id: int, day: date) -> None:
    """What a status refresh that does not re-seal writes: the clear columns only."""
    with write_session(deployment.runtime.sessions) as session:
        session.execute(
            sa.update(Order)
            .where(Order.id == order_id)
            .values(status="delivered", delivered_at=day_start(day.year, day.month, day.day, 10))
        )


def test_delivery_moves_only_the_data_key_to_the_expiry_bucket(deployment: Deployment) -> None:
    client = deployment.config.client("acme")
    order_id = store(deployment, "1000000")  # promised by 10-06: estimate 11-05
    before = order_row(deployment, order_id)
    assert before.bucket_day == date(2026, 11, 5)

    _deliver_in_clear_columns(deployment, order_id, date(2026, 10, 3))
    assert rewrap_to_expiry(deployment.runtime, client, order_id) is MoveOutcome.MOVED
    after = order_row(deployment, order_id)
    assert (after.bucket_day, after.expires_on) == (date(2026, 11, 2), date(2026, 11, 2))
    assert after.pii_ciphertext == before.pii_ciphertext
    assert after.wrapped_data_key != before.wrapped_data_key
    assert readable(deployment, order_id)
    assert rewrap_to_expiry(deployment.runtime, client, order_id) is MoveOutcome.UNCHANGED

    deployment.clock.now = day_start(2026, 11, 1, 23)
    run_expiry(deployment.runtime)
    assert readable(deployment, order_id)
    deployment.clock.now = day_start(2026, 11, 2)
    report = run_expiry(deployment.runtime)
    assert [(b.day, b.orders) for b in report.buckets] == [(date(2026, 11, 2), 1)]
    assert not readable(deployment, order_id)


def test_the_expiry_pass_finds_moved_deliveries_itself(deployment: Deployment) -> None:
    order_id = store(deployment, "1100000")
    _deliver_in_clear_columns(deployment, order_id, date(2026, 10, 4))
    report = run_expiry(deployment.runtime)
    assert report.moves.moved == 1
    assert order_row(deployment, order_id).bucket_day == date(2026, 11, 3)


def test_a_delivery_whose_window_has_passed_is_shredded_at_once(deployment: Deployment) -> None:
    order_id = store(deployment, "1200000")
    _deliver_in_clear_columns(deployment, order_id, date(2026, 10, 3))
    deployment.clock.now = day_start(2026, 11, 2, 6)  # bucket 11-05 alive, window over
    report = run_expiry(deployment.runtime)
    assert report.moves.shredded == 1
    assert order_row(deployment, order_id).shred_reason == "retention"
    assert not readable(deployment, order_id)
    (event,) = audit_events(deployment, "shred_order")
    assert event.subject == {"order_id": order_id}


def test_ingesting_the_delivered_version_seals_into_the_right_bucket(
    deployment: Deployment,
) -> None:
    client = deployment.config.client("acme")
    order_id = store(deployment, "1300000")
    delivered = day_start(2026, 10, 5, 15)
    same = store(
        deployment,
        "1300000",
        status=OrderStatus.DELIVERED,
        delivered_at=delivered,
        updated_at=delivered,
    )
    assert same == order_id
    assert order_row(deployment, order_id).bucket_day == date(2026, 11, 4)
    assert rewrap_to_expiry(deployment.runtime, client, order_id) is MoveOutcome.UNCHANGED


def test_undelivered_orders_are_extended_to_their_cap_then_shredded(
    deployment: Deployment,
) -> None:
    # Bought 10-01 09:30, promised by 10-06: estimate 11-05; cap (60 days) 11-30.
    order_id = store(deployment, "1400000")
    day = date(2026, 10, 3)
    moved_on = None
    while day <= date(2026, 12, 1):
        deployment.clock.now = day_start(day.year, day.month, day.day, 2)
        before = order_row(deployment, order_id).bucket_day
        run_expiry(deployment.runtime)
        after = order_row(deployment, order_id).bucket_day
        if before != after and after is not None:
            moved_on = (day, after)
        if day < date(2026, 11, 30):
            assert readable(deployment, order_id), day
        day += timedelta(days=1)
    # Moved once, the day before its bucket would die, straight to the cap (now + 30 > cap).
    assert moved_on == (date(2026, 11, 4), date(2026, 11, 30))
    row = order_row(deployment, order_id)
    assert row.shred_reason == "undelivered_cap"
    assert not readable(deployment, order_id)
    (event,) = [e for e in audit_events(deployment, "shred") if e.details["orders"]]
    assert event.details["undelivered_cap"] == 1


def test_an_undelivered_order_without_a_promise_is_extended_to_its_cap(
    deployment: Deployment,
) -> None:
    # No promised date: estimate purchase + 14 + 30 = 11-14; a long cap.
    order_id = store(
        deployment,
        "1500000",
        latest_delivery_by=None,
    )
    assert order_row(deployment, order_id).bucket_day == date(2026, 11, 14)
    deployment.clock.now = day_start(2026, 11, 13, 5)
    assert run_expiry(deployment.runtime).moves.moved == 1
    # Cap is 11-30; now + 30 days is 12-13: the cap wins.
    assert order_row(deployment, order_id).bucket_day == date(2026, 11, 30)


def test_an_undelivered_extension_never_outruns_retention_from_now() -> None:
    client = ClientConfig.model_validate(
        {"id": "acme", "name": "Acme", "retention": {"max_undelivered_days": 120}}
    )
    order = SimpleNamespace(
        purchased_at=day_start(2026, 10, 1, 9),
        delivered_at=None,
        cancelled_at=None,
        bucket_day=date(2026, 11, 5),
    )
    # Two days out: left alone. Tomorrow: moved to now + 30 days, not to the cap (01-29).
    assert planned_day(order, client, day_start(2026, 11, 3, 2)) == (date(2026, 11, 5), None)
    assert planned_day(order, client, day_start(2026, 11, 4, 2)) == (date(2026, 12, 4), None)
    past_cap = day_start(2027, 1, 29)
    order.bucket_day = date(2027, 1, 29)
    assert planned_day(order, client, past_cap) == (date(2027, 1, 29), "undelivered_cap")
