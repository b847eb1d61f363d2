"""When an order's PII must be gone: the day its bucket key is destroyed.

A bucket key dies at the start (00:00 UTC) of its day. For an order delivered at time T with a
retention of N days, the day is the date of T + N days: its start is no later than T + N days,
so the PII lives at most N days after delivery, never a day more. Cancellation counts as
delivery. Before delivery the day is an estimate from the latest promised delivery, and an order
that is never delivered dies no later than `max_undelivered_days` after purchase.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from connectors.order import Order

#: Used when a marketplace promises no delivery date at all.
FALLBACK_DELIVERY_DAYS = 14


def expiry_day(
    order: Order, *, retention_days: int, max_undelivered_days: int, now: datetime | None = None
) -> date:
    """The bucket day for `order` as known `now`.

    An undelivered order whose estimate has (nearly) passed is still waiting for delivery: like
    the expiry job's move (`pipeline.retention.planned_day`), it gets `now + retention`, never
    past its cap, instead of being taken for expired.
    """
    return expiry_days(
        [order], retention_days=retention_days, max_undelivered_days=max_undelivered_days, now=now
    )[0]


def expiry_days(
    orders: Iterable[Order],
    *,
    retention_days: int,
    max_undelivered_days: int,
    now: datetime | None = None,
) -> list[date]:
    """`expiry_day` of each of `orders`, with what depends only on the client and `now` (a
    page's worth of orders share both) worked out once rather than per order."""
    retention = timedelta(days=retention_days)
    fallback = timedelta(days=FALLBACK_DELIVERY_DAYS)
    cap_after = timedelta(days=max_undelivered_days)
    # An estimate up to this day is taken as still waiting for delivery, and gets `waiting_day`.
    waiting_through = None if now is None else now.date() + timedelta(days=1)
    waiting_day = None if now is None else (now + retention).date()
    days: list[date] = []
    for order in orders:
        done = order.delivered_at or order.cancelled_at
        if done is not None:
            days.append((done + retention).date())
            continue
        promised = order.latest_delivery_by or order.purchased_at + fallback
        estimate = (promised + retention).date()
        if waiting_through is not None and waiting_day is not None and estimate <= waiting_through:
            estimate = max(estimate, waiting_day)
        days.append(min(estimate, (order.purchased_at + cap_after).date()))
    return days
