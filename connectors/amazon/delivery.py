"""When an Amazon order was delivered or cancelled, or when it is promised by.

Neither Orders API has a "delivered" order status (DPP.md). The signals, in order:

- v2026: the order is delivered once it is fully shipped and every package that was not
  cancelled reports `DELIVERED`; a partial delivery is not the order's delivery.
- v0: Easy Ship status `Delivered` (the only delivery signal v0 has).
- Cancelled: the order status says so.
- Otherwise the latest promised delivery time is the estimate (v2026: the order's deliver-by
  window, else the items' scheduled delivery windows; v0: `LatestDeliveryDate`).

Amazon gives no delivery time, only the status, so the time is when the status was first seen:
the pull's `observed_at`. A status change is an order update, so the order's last-update time
bounds it from above: a backfill that first sees a year-old delivery must not restart that
order's retention clock today (DPP 2.1: 30 days after delivery, not after we noticed). Storage
keeps the earliest value across pulls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectors.amazon.payload_v0 import V0Order
from connectors.amazon.payload_v2026 import AmazonOrder

__all__ = ["DeliverySignal", "signal_v0", "signal_v2026"]

PACKAGE_STATUS = "package_status"
EASY_SHIP = "easy_ship"


@dataclass(frozen=True)
class DeliverySignal:
    delivered_at: datetime | None = None
    delivery_source: str | None = None
    cancelled_at: datetime | None = None
    latest_delivery_by: datetime | None = None
    shipped_at: datetime | None = None


def signal_v2026(order: AmazonOrder, *, observed_at: datetime) -> DeliverySignal:
    status = order.fulfillment.fulfillmentStatus if order.fulfillment else None
    packages = [p for p in order.packages or () if p.packageStatus is not None]
    live = [p for p in packages if p.packageStatus and p.packageStatus.status != "CANCELLED"]
    ship_times = [p.shipTime for p in live if p.shipTime is not None]
    shipped_at = max(ship_times) if ship_times and status == "SHIPPED" else None
    latest = _latest_promise(order)
    if status == "CANCELLED":
        return DeliverySignal(
            cancelled_at=min(observed_at, order.lastUpdatedTime), latest_delivery_by=latest
        )
    delivered = (
        status == "SHIPPED"
        and bool(live)
        and all(p.packageStatus is not None and p.packageStatus.status == "DELIVERED" for p in live)
    )
    if not delivered:
        return DeliverySignal(latest_delivery_by=latest, shipped_at=shipped_at)
    # Never before the last package left, even if the last update predates it.
    bound = max([order.lastUpdatedTime, *ship_times])
    return DeliverySignal(
        delivered_at=min(observed_at, bound),
        delivery_source=PACKAGE_STATUS,
        latest_delivery_by=latest,
        shipped_at=shipped_at,
    )


def _latest_promise(order: AmazonOrder) -> datetime | None:
    window = order.fulfillment.deliverByWindow if order.fulfillment else None
    if window is not None and window.latestDateTime is not None:
        return window.latestDateTime
    scheduled = [
        item.fulfillment.shipping.scheduledDeliveryWindow.latestDateTime
        for item in order.orderItems
        if item.fulfillment
        and item.fulfillment.shipping
        and item.fulfillment.shipping.scheduledDeliveryWindow
        and item.fulfillment.shipping.scheduledDeliveryWindow.latestDateTime
    ]
    return max(scheduled) if scheduled else None


def signal_v0(order: V0Order, *, observed_at: datetime) -> DeliverySignal:
    if order.OrderStatus == "Canceled":
        return DeliverySignal(
            cancelled_at=min(observed_at, order.LastUpdateDate),
            latest_delivery_by=order.LatestDeliveryDate,
        )
    if order.EasyShipShipmentStatus == "Delivered":
        return DeliverySignal(
            delivered_at=min(observed_at, order.LastUpdateDate),
            delivery_source=EASY_SHIP,
            latest_delivery_by=order.LatestDeliveryDate,
        )
    return DeliverySignal(latest_delivery_by=order.LatestDeliveryDate)
