"""Where an eBay order stands: status, shipped, delivered, cancelled and the delivery promise.

GetOrders has no "delivered" status. An order counts as delivered when every package eBay
lists under `ShippingServiceSelected/ShippingPackageInfo` (one node or many) carries an
`ActualDeliveryTime`; the latest of them is the delivery time. Until then the latest
`EstimatedDeliveryTimeMax` (else `ScheduledDeliveryTimeMax`) is the promise the retention
estimate uses. A cancellation counts once eBay reports it closed, not while it is requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from connectors.ebay.fields import all_at, datetime_at, text_at
from connectors.ebay.quarantine import PayloadError
from connectors.order import OrderStatus

__all__ = ["Fulfilment", "fulfilment"]

# CancelStatusCodeType values for a cancellation that went through (eBay's descriptions:
# closed with or without a refund, or closed because an unpaid buyer's commitment lapsed).
CANCELLED = frozenset(
    {
        "CancelComplete",
        "CancelClosedWithRefund",
        "CancelClosedUnknownRefund",
        "CancelClosedNoRefund",
        "CancelClosedForCommitment",
    }
)
# OrderStatusCodeType values GetOrders returns for a seller's orders. CustomCode and Invalid
# are eBay's placeholders: such an order is quarantined rather than guessed at.
KNOWN_ORDER_STATUSES = frozenset(
    {
        "Active",
        "Authenticated",
        "Cancelled",
        "CancelPending",
        "Completed",
        "Default",
        "Inactive",
        "InProcess",
        "Shipped",
    }
)
_PACKAGES = "ShippingServiceSelected/ShippingPackageInfo"
_LINE_PACKAGES = "TransactionArray/Transaction/ShippingServiceSelected/ShippingPackageInfo"


@dataclass(frozen=True)
class Fulfilment:
    status: OrderStatus
    shipped_at: datetime | None
    delivered_at: datetime | None
    delivery_source: str | None
    cancelled_at: datetime | None
    latest_delivery_by: datetime | None


def fulfilment(order: Element, *, updated_at: datetime) -> Fulfilment:
    order_status = text_at(order, "OrderStatus")
    if order_status is not None and order_status not in KNOWN_ORDER_STATUSES:
        raise PayloadError("OrderStatus", "unknown value")
    packages = all_at(order, _PACKAGES) or all_at(order, _LINE_PACKAGES)
    delivered_at = _delivered_at(packages)
    latest_delivery_by = _latest_promise(packages)
    cancelled_at = _cancelled_at(order, order_status, updated_at=updated_at)
    shipped_at, shipped, partly = _shipment(order, order_status)
    if cancelled_at is not None:
        status = OrderStatus.CANCELLED
        delivered_at = None
    elif delivered_at is not None:
        status = OrderStatus.DELIVERED
    elif shipped:
        status = OrderStatus.SHIPPED
    elif partly:
        status = OrderStatus.PARTIALLY_SHIPPED
    elif _paid(order, order_status):
        status = OrderStatus.UNSHIPPED
    else:
        status = OrderStatus.PENDING
    return Fulfilment(
        status=status,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        delivery_source="actual_delivery_time" if delivered_at else None,
        cancelled_at=cancelled_at,
        latest_delivery_by=latest_delivery_by,
    )


def _delivered_at(packages: list[Element]) -> datetime | None:
    times = [datetime_at(p, "ActualDeliveryTime") for p in packages]
    if not times or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def _latest_promise(packages: list[Element]) -> datetime | None:
    promises = [
        datetime_at(p, "EstimatedDeliveryTimeMax") or datetime_at(p, "ScheduledDeliveryTimeMax")
        for p in packages
    ]
    known = [p for p in promises if p is not None]
    return max(known) if known else None


def _cancelled_at(
    order: Element, order_status: str | None, *, updated_at: datetime
) -> datetime | None:
    if order_status != "Cancelled" and text_at(order, "CancelStatus") not in CANCELLED:
        return None
    completed = [datetime_at(d, "CancelCompleteDate") for d in all_at(order, "CancelDetail")]
    known = [c for c in completed if c is not None]
    # Without a completion date the last modification is the closest eBay tells us.
    return max(known) if known else updated_at


def _shipment(order: Element, order_status: str | None) -> tuple[datetime | None, bool, bool]:
    """(shipped at, fully shipped, partly shipped)."""
    shipped_at = datetime_at(order, "ShippedTime")
    if shipped_at is not None:
        return shipped_at, True, False
    lines = [datetime_at(t, "ShippedTime") for t in all_at(order, "TransactionArray/Transaction")]
    if lines and all(t is not None for t in lines):
        return max(t for t in lines if t is not None), True, False
    return None, order_status == "Shipped", any(t is not None for t in lines)


def _paid(order: Element, order_status: str | None) -> bool:
    return (
        datetime_at(order, "PaidTime") is not None
        or text_at(order, "CheckoutStatus/Status") == "Complete"
        or order_status == "Completed"
    )
