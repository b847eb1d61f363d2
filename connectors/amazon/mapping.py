"""Amazon order payload -> canonical `Order`, or a quarantine item saying which field is wrong.

Two steps, so that a failure names the right field: the payload is validated against the part
of Amazon's schema we read (`payload_v2026`, `payload_v0`; the field is Amazon's), then the
canonical order is built and validated (the field is ours). PII goes only where `Order` classifies
it as PII: buyer name, email, company, purchase-order number and tax data; the recipient's name,
address lines, postal code, phone and extended fields; gift messages; customisation URLs.
What Amazon leaves out (no address on AFN orders, no phone after delivery) stays absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from connectors.amazon import payload_v0 as v0
from connectors.amazon import payload_v2026 as v26
from connectors.amazon.build_v0 import STATUS_V0, order_fields_v0
from connectors.amazon.build_v2026 import order_fields_v2026
from connectors.amazon.fields import Json, MappingContext
from connectors.amazon.quarantine import (
    PayloadError,
    QuarantineItem,
    describe_validation_error,
    field_path,
    quarantine_item,
)
from connectors.order import Order
from connectors.quarantine import safe_order_id, unencodable_at

__all__ = ["MappingContext", "map_v0", "map_v2026"]

# Amazon's order ids are digits and dashes; the id goes into URLs, clear columns and the
# sealed record's associated data, none of which may carry a control character or a slash.
_ODD_ID = "payload: does not match the expected format"


def map_v2026(raw: Any, ctx: MappingContext) -> Order | QuarantineItem:
    """One order object of a searchOrders/getOrder response."""
    if not isinstance(raw, Mapping):
        return _not_an_object(raw, "order")
    try:
        payload = v26.AmazonOrder.model_validate(raw)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc)
        return quarantine_item(
            raw, order_id_key="orderId", field=field, reason=f"payload: {problem}"
        )
    if safe_order_id(payload.orderId) is None:
        return quarantine_item(raw, order_id_key="", field="orderId", reason=_ODD_ID)
    try:
        data = order_fields_v2026(payload, ctx)
    except PayloadError as exc:
        return quarantine_item(
            raw, order_id_key="orderId", field=exc.field, reason=f"payload: {exc.problem}"
        )
    return _validated(data, raw, order_id_key="orderId")


def map_v0(raw_order: Any, raw_items: Sequence[Any], ctx: MappingContext) -> Order | QuarantineItem:
    """One order of a getOrders response with the items getOrderItems returned for it."""
    if not isinstance(raw_order, Mapping):
        return _not_an_object(raw_order, "order")
    bundle = {
        "order": dict(raw_order),
        "orderItems": [dict(item) if isinstance(item, Mapping) else item for item in raw_items],
    }
    order_id = raw_order.get("AmazonOrderId")
    try:
        payload = v0.V0Order.model_validate(raw_order)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc, prefix="order")
        return quarantine_item(
            bundle, order_id_key="", order_id=order_id, field=field, reason=f"payload: {problem}"
        )
    if safe_order_id(payload.AmazonOrderId) is None:
        return quarantine_item(bundle, order_id_key="", field="order.AmazonOrderId", reason=_ODD_ID)
    items: list[v0.V0OrderItem] = []
    for index, raw_item in enumerate(raw_items):
        try:
            items.append(v0.V0OrderItem.model_validate(raw_item))
        except ValidationError as exc:
            field, problem = describe_validation_error(exc, prefix=f"orderItems[{index}]")
            return quarantine_item(
                bundle,
                order_id_key="",
                order_id=order_id,
                field=field,
                reason=f"payload: {problem}",
            )
    status = STATUS_V0.get(payload.OrderStatus)
    if status is None:
        return quarantine_item(
            bundle,
            order_id_key="",
            order_id=order_id,
            field="order.OrderStatus",
            reason="payload: unknown value",
        )
    data = order_fields_v0(payload, items, status, ctx)
    return _validated(data, bundle, order_id_key="", order_id=order_id)


def _not_an_object(raw: object, field: str) -> QuarantineItem:
    # Kept, not skipped: a list entry that is not an object is still something Amazon sent.
    return quarantine_item(
        {"value": raw}, order_id_key="", field=field, reason="payload: expected an object"
    )


def _validated(
    data: Json, raw: Mapping[str, Any], *, order_id_key: str, order_id: object = None
) -> Order | QuarantineItem:
    # pydantic checks Unicode only where a field has constraints; a lone surrogate elsewhere
    # would pass here and fail when the order is serialised to be sealed and stored.
    bad = unencodable_at(data)
    if bad is not None:
        return quarantine_item(
            raw,
            order_id_key=order_id_key,
            order_id=order_id,
            field=field_path(bad),
            reason="canonical order: not valid Unicode",
        )
    try:
        return Order.model_validate(data)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc)
        return quarantine_item(
            raw,
            order_id_key=order_id_key,
            order_id=order_id,
            field=field,
            reason=f"canonical order: {problem}",
        )


# -- v2026 ---------------------------------------------------------------------------------
