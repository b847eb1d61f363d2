"""Amazon payloads that cannot become an `Order`: the JSON payload, sealed later by the pipeline.

The item type and the error description are shared with every connector (`connectors.quarantine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.quarantine import (
    PayloadError,
    QuarantineItem,
    describe_validation_error,
    field_path,
    payload_bytes,
    safe_order_id,
)

__all__ = [
    "PayloadError",
    "QuarantineItem",
    "describe_validation_error",
    "field_path",
    "quarantine_item",
]


def quarantine_item(
    raw: Mapping[str, Any], *, order_id_key: str, field: str, reason: str, order_id: object = None
) -> QuarantineItem:
    candidate = order_id if order_id is not None else raw.get(order_id_key)
    return QuarantineItem(
        marketplace_order_id=safe_order_id(candidate),
        payload=payload_bytes(raw),
        field=field,
        reason=reason,
    )
