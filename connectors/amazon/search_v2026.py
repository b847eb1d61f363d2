"""Orders API v2026-01-01: one searchOrders page per call; buyer data without an RDT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.amazon.calls import Caller
from connectors.amazon.errors import SpApiError
from connectors.amazon.mapping import MappingContext, map_v2026
from connectors.amazon.quarantine import QuarantineItem
from connectors.amazon.resume import Window, amazon_time
from connectors.amazon.sp_clients import SpApiClients
from connectors.order import Order

__all__ = ["INCLUDED_DATA", "SearchOrders"]

#: Items always come. PII arrives with BUYER and RECIPIENT; delivery signals with PACKAGES.
INCLUDED_DATA = ("BUYER", "RECIPIENT", "FULFILLMENT", "PACKAGES")
OPERATION = "orders.searchOrders"


class SearchOrders:
    def __init__(self, clients: SpApiClients, caller: Caller, *, page_size: int) -> None:
        self._client = clients.orders_2026
        self._caller = caller
        self._page_size = page_size

    def params(self, window: Window) -> dict[str, Any]:
        field = "lastUpdated" if window.stream == "pull" else "created"
        params: dict[str, Any] = {
            "marketplaceIds": list(window.marketplace_ids),
            "includedData": list(INCLUDED_DATA),
            "maxResultsPerPage": self._page_size,
            f"{field}After": amazon_time(window.after),
            f"{field}Before": amazon_time(window.before),
        }
        if window.token:
            params["paginationToken"] = window.token
        return params

    def fetch(
        self, window: Window, ctx: MappingContext
    ) -> tuple[Iterator[Order | QuarantineItem], str | None]:
        params = self.params(window)
        response = self._caller.call(
            OPERATION, self._client, lambda: self._client.search_orders(**params)
        )
        payload = response.payload if isinstance(response.payload, dict) else {}
        raw_orders = payload.get("orders")
        if not isinstance(raw_orders, list):
            raise SpApiError(f"{OPERATION}: response without an orders list", retryable=False)
        pagination = response.pagination if isinstance(response.pagination, dict) else {}
        token = pagination.get("nextToken")
        mapped = (map_v2026(raw, ctx) for raw in raw_orders)
        return mapped, token if isinstance(token, str) and token else None
