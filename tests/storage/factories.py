"""Row factories for storage tests: valid defaults, override what the test is about."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from storage.orders import OrderRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def order_record(**overrides: Any) -> OrderRecord:
    fields: dict[str, Any] = {
        "client_id": "acme",
        "marketplace": "amazon",
        "account": "acme-eu",
        "marketplace_order_id": "302-0000001-0000001",
        "content_digest": digest("payload-1"),
        "status": "Unshipped",
        "purchased_at": datetime(2026, 2, 27, 9, 30, tzinfo=UTC),
        "clear": {"currency": "EUR", "total_minor": 1999, "items": [{"sku": "A-1", "qty": 1}]},
        "schema_version": 1,
        "pii_ciphertext": b"\x01sealed-pii",
        "wrapped_data_key": b"\x02wrapped-key",
        "bucket_day": date(2026, 4, 5),
        "expires_on": None,
        "latest_delivery_by": datetime(2026, 3, 6, 23, 59, tzinfo=UTC),
        "blind_index": [("email", digest("buyer@example.com")), ("buyer_id", digest("B-1"))],
    }
    fields.update(overrides)
    return OrderRecord(**fields)
