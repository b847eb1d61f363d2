"""eBay order nodes that cannot become an `Order`; the types live in `connectors.quarantine`."""

from __future__ import annotations

from connectors.quarantine import (
    PayloadError,
    QuarantineItem,
    describe_validation_error,
    safe_order_id,
)

__all__ = ["PayloadError", "QuarantineItem", "describe_validation_error", "safe_order_id"]
