"""What a pull yields, one GetOrders page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.ebay.quarantine import QuarantineItem
from connectors.order import Order

__all__ = ["Page"]


@dataclass(frozen=True)
class Page:
    """One page of orders.

    Store `orders` and `quarantined` (both: a quarantined node counts as handled), then save
    `state` (JSON-able) with `position_at` as the cursor, in the same transaction. Passing that
    state back to `pull` continues after this page; `done` marks the walk's last page.
    """

    orders: tuple[Order, ...]
    quarantined: tuple[QuarantineItem, ...]
    state: dict[str, Any]
    position_at: datetime
    done: bool
