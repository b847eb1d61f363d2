"""When an order's PII must be gone: the day its bucket key is destroyed.

A bucket key dies at the start (00:00 UTC) of its day. For an order delivered at time T with a
retention of N days, the day is the date of T + N days: its start is no later than T + N days,
so the PII lives at most N days after delivery, never a day more. Cancellation counts as
delivery. Before delivery the day is an estimate from the latest promised delivery, and an order
that is never delivered dies no later than `max_undelivered_days` after purchase.
"""

from __future__ import annotations

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
    done = order.delivered_at or order.cancelled_at
    if done is not None:
        return (done + timedelta(days=retention_days)).date()
    promised = order.latest_delivery_by or order.purchased_at + timedelta(
        days=FALLBACK_DELIVERY_DAYS
    )
    estimate = (promised + timedelta(days=retention_days)).date()
    if now is not None and estimate <= now.date() + timedelta(days=1):
        estimate = max(estimate, (now + timedelta(days=retention_days)).date())
    cap = (order.purchased_at + timedelta(days=max_undelivered_days)).date()
    return min(estimate, cap)
