"""The JSON document every destination receives for one order version.

Shape (schema: `pipeline/schemas/order.schema.json`, JSON Schema draft 2020-12)::

    {
      "ordervault": {"schema_version": 1, "order_version": 3, "idempotency_key": "<64 hex>",
                     "client_id": ..., "marketplace": ..., "account": ...,
                     "marketplace_order_id": ..., "site": ...},
      "order": {<the whole canonical order, PII included; every field present, null if absent>}
    }

The metadata repeats the marketplace identifiers so a receiver can route and deduplicate
without reading the order. The encoding is fixed here rather than left to pydantic, so the
wire format changes only when this module does: money amounts are decimal strings in plain
notation ("100.00", never "1E+2" and never a float), timestamps are UTC RFC 3339 with "Z".
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from connectors.order import Order

FORWARDING_SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "order.schema.json"


def order_document(order: Order, *, order_version: int, idempotency_key: str) -> dict[str, Any]:
    """The forwarded document of `order` at `order_version` (PII included: send, never log)."""
    if order_version < 1:
        raise ValueError("order versions start at 1")
    return {
        "ordervault": {
            "schema_version": FORWARDING_SCHEMA_VERSION,
            "order_version": order_version,
            "idempotency_key": idempotency_key,
            "client_id": order.client_id,
            "marketplace": order.marketplace.value,
            "account": order.account,
            "marketplace_order_id": order.marketplace_order_id,
            "site": order.site,
        },
        "order": _jsonable(order.model_dump()),
    }


@cache
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def order_schema() -> dict[str, Any]:
    """The shipped JSON schema of a forwarded document (a fresh copy each call)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


# Most leaves of an order are these; testing for them first halves the walk's cost.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {str(key): _jsonable(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        # Order validates every timestamp to UTC, so the offset is always +00:00.
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
