"""The expiry day never lets PII outlive its retention window."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connectors.order import OrderStatus
from pipeline.expiry import expiry_day
from tests.factories import make_order

_when = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
)


@given(delivered=_when, retention_days=st.integers(min_value=1, max_value=90))
def test_key_dies_no_later_than_retention_after_delivery(
    delivered: datetime, retention_days: int
) -> None:
    order = make_order(
        status=OrderStatus.DELIVERED,
        purchased_at=delivered - timedelta(days=3),
        updated_at=delivered,
        delivered_at=delivered,
    )
    day = expiry_day(order, retention_days=retention_days, max_undelivered_days=60)
    destroyed_at = datetime.combine(day, time.min, tzinfo=UTC)
    assert destroyed_at <= delivered + timedelta(days=retention_days)
    # ...and not more than a day early.
    assert destroyed_at > delivered + timedelta(days=retention_days - 1)


def test_cancellation_starts_the_clock_like_delivery() -> None:
    cancelled = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    order = make_order(status=OrderStatus.CANCELLED, cancelled_at=cancelled)
    assert expiry_day(order, retention_days=30, max_undelivered_days=60).isoformat() == "2026-04-09"


def test_undelivered_orders_use_the_promise_but_never_pass_the_cap() -> None:
    purchased = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    order = make_order(purchased_at=purchased, latest_delivery_by=purchased + timedelta(days=5))
    assert expiry_day(order, retention_days=30, max_undelivered_days=60).isoformat() == "2026-11-05"
    late = make_order(purchased_at=purchased, latest_delivery_by=purchased + timedelta(days=50))
    assert expiry_day(late, retention_days=30, max_undelivered_days=60).isoformat() == "2026-11-30"


def test_an_undelivered_order_past_its_estimate_keeps_waiting_up_to_its_cap() -> None:
    purchased = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    order = make_order(purchased_at=purchased, latest_delivery_by=purchased + timedelta(days=2))
    # Estimate 2026-11-02 has passed by 2026-11-10: the order waits, not "expired on arrival".
    now = datetime(2026, 11, 10, tzinfo=UTC)
    day = expiry_day(order, retention_days=30, max_undelivered_days=60, now=now)
    assert day.isoformat() == "2026-11-30"  # the cap: purchase + 60 days
    early = datetime(2026, 10, 20, tzinfo=UTC)
    assert expiry_day(order, retention_days=30, max_undelivered_days=60, now=early).isoformat() == (
        "2026-11-02"
    )
