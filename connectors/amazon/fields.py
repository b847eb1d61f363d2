"""Small helpers both Orders API mappings share, and the context a mapping runs in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.amazon.delivery import DeliverySignal
from connectors.order import Marketplace, OrderStatus

__all__ = [
    "CHANNELS",
    "Json",
    "MappingContext",
    "channel",
    "common_fields",
    "compact",
    "first_currency",
    "lower",
    "money",
    "number",
    "text",
]

Json = dict[str, Any]

CHANNELS = {"AMAZON": "amazon", "MERCHANT": "merchant", "AFN": "amazon", "MFN": "merchant"}


@dataclass(frozen=True)
class MappingContext:
    client_id: str
    account: str
    observed_at: datetime  # when this pull saw the payload: "first seen" for delivery


def common_fields(
    ctx: MappingContext, order_id: str, status: OrderStatus, signal: DeliverySignal
) -> Json:
    if signal.delivered_at is not None:
        status = OrderStatus.DELIVERED
    return {
        "client_id": ctx.client_id,
        "marketplace": Marketplace.AMAZON,
        "account": ctx.account,
        "marketplace_order_id": order_id,
        "status": status,
        "shipped_at": signal.shipped_at,
        "delivered_at": signal.delivered_at,
        "delivery_source": signal.delivery_source,
        "cancelled_at": signal.cancelled_at,
        "latest_delivery_by": signal.latest_delivery_by,
    }


def money(amount: object, currency: str) -> Json:
    return {"amount": amount, "currency": currency}


def first_currency(items: list[Json]) -> str | None:
    for item in items:
        for key in ("unit_price", "item_price"):
            if item.get(key):
                return str(item[key]["currency"])
    return None


def channel(value: str | None) -> str | None:
    return CHANNELS.get(value, value.lower()) if value else None


def text(value: str | None) -> str | None:
    """Amazon sends empty strings for absent values (`addressLine3: ""`): absent is absent."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def lower(value: str | None) -> str | None:
    stripped = text(value)
    return stripped.lower() if stripped else None


def number(value: float | None) -> str | None:
    return None if value is None else repr(value)


def compact(data: Json) -> Json | None:
    kept = {key: value for key, value in data.items() if value is not None}
    return kept or None
