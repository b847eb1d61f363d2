"""What a pull yields, one marketplace page at a time, whatever the marketplace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.order import Order
from connectors.quarantine import QuarantineItem

__all__ = ["Page"]


@dataclass(frozen=True)
class Page:
    """One page of orders.

    Store `orders` and `quarantined` (both: a quarantined payload counts as handled), then save
    `state` (JSON-able) with `position_at` as the cursor, in the same transaction. Passing that
    state back to `pull`/`backfill` continues after this page; `done` marks the window's (or
    walk's) last page.
    """

    orders: tuple[Order, ...]
    quarantined: tuple[QuarantineItem, ...]
    state: dict[str, Any]
    position_at: datetime | None
    done: bool
