"""Orders API v0: getOrders pages, getOrderItems per order, PII through one reused RDT."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from connectors.amazon.calls import Caller
from connectors.amazon.errors import SpApiError
from connectors.amazon.lifetimes import accepted_lifetime_s
from connectors.amazon.mapping import MappingContext, map_v0
from connectors.amazon.quarantine import QuarantineItem, quarantine_item
from connectors.amazon.rdt import V0_RESTRICTED_RESOURCES, RestrictedDataTokens
from connectors.amazon.resume import Window, amazon_time
from connectors.amazon.sp_clients import SpApiClients
from connectors.order import Order
from connectors.quarantine import safe_order_id
from connectors.ratelimit.base import Clock

__all__ = ["GetOrdersV0"]

GET_ORDERS = "ordersV0.getOrders"
GET_ORDER_ITEMS = "ordersV0.getOrderItems"
CREATE_RDT = "tokens.createRestrictedDataToken"
# An order's items missing for one of these is about that order: quarantine it, go on.
_ORDER_SPECIFIC_STATUSES = frozenset({400, 404})


class GetOrdersV0:
    def __init__(
        self, clients: SpApiClients, caller: Caller, *, clock: Clock, page_size: int
    ) -> None:
        self._orders = clients.orders_v0
        self._tokens = clients.tokens
        self._caller = caller
        self._page_size = page_size
        self.rdt = RestrictedDataTokens(self._mint, clock=clock)

    def params(self, window: Window) -> dict[str, Any]:
        field = "LastUpdated" if window.stream == "pull" else "Created"
        params: dict[str, Any] = {
            "MarketplaceIds": list(window.marketplace_ids),
            "MaxResultsPerPage": self._page_size,
            f"{field}After": amazon_time(window.after),
            f"{field}Before": amazon_time(window.before),
        }
        if window.token:
            params["NextToken"] = window.token
        return params

    def fetch(
        self, window: Window, ctx: MappingContext
    ) -> tuple[Iterator[Order | QuarantineItem], str | None]:
        params = self.params(window)
        response = self._restricted(GET_ORDERS, lambda: self._orders.get_orders(**params))
        payload = response.payload if isinstance(response.payload, dict) else {}
        raw_orders = payload.get("Orders")
        if not isinstance(raw_orders, list):
            raise SpApiError(f"{GET_ORDERS}: response without an Orders list", retryable=False)
        token = payload.get("NextToken")
        # A generator: items are fetched as the page is consumed, one order at a time.
        mapped = (self._order(raw, ctx) for raw in raw_orders)
        return mapped, token if isinstance(token, str) and token else None

    def _order(self, raw: Any, ctx: MappingContext) -> Order | QuarantineItem:
        order_id = raw.get("AmazonOrderId") if isinstance(raw, dict) else None
        if not isinstance(order_id, str) or not order_id:
            return map_v0(raw, [], ctx)  # quarantined for the missing id
        if safe_order_id(order_id) is None:
            # It goes into the getOrderItems path: "../" or "?" there would call another URL.
            return quarantine_item(
                {"order": raw, "orderItems": []},
                order_id_key="",
                field="order.AmazonOrderId",
                reason="payload: does not match the expected format",
            )
        try:
            items = self._items(order_id)
        except SpApiError as exc:
            if exc.status not in _ORDER_SPECIFIC_STATUSES:
                raise
            return quarantine_item(
                {"order": raw, "orderItems": []},
                order_id_key="",
                order_id=order_id,
                field="orderItems",
                reason=f"payload: order items not retrievable (HTTP {exc.status})",
            )
        return map_v0(raw, items, ctx)

    def _items(self, order_id: str) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        while True:
            kwargs = {"NextToken": token} if token else {}
            response = self._restricted(
                GET_ORDER_ITEMS, partial(self._items_page, order_id, kwargs)
            )
            payload = response.payload if isinstance(response.payload, dict) else {}
            page = payload.get("OrderItems")
            if not isinstance(page, list):
                raise SpApiError(f"{GET_ORDER_ITEMS}: response without OrderItems", retryable=False)
            # Every entry, objects or not: one that is not quarantines the order (`map_v0`)
            # rather than vanishing from it.
            items.extend(page)
            token = payload.get("NextToken") or None
            if not isinstance(token, str):
                return items

    def _items_page(self, order_id: str, kwargs: dict[str, str]) -> Any:
        return self._orders.get_order_items(order_id, **kwargs)

    def _restricted(self, operation: str, send: Callable[[], Any]) -> Any:
        self.rdt.current()  # mint (if due) before spending this operation's token

        def with_token() -> Any:
            self._orders.restricted_data_token = self.rdt.current()
            return send()

        return self._caller.call(
            operation, self._orders, with_token, on_auth_failure=self.rdt.invalidate
        )

    def _mint(self) -> tuple[str, int]:
        resources = [dict(resource) for resource in V0_RESTRICTED_RESOURCES]
        response = self._caller.call(
            CREATE_RDT,
            self._tokens,
            lambda: self._tokens.create_restricted_data_token(restrictedResources=resources),
        )
        payload = response.payload if isinstance(response.payload, dict) else {}
        token = payload.get("restrictedDataToken")
        lifetime_s = accepted_lifetime_s(payload.get("expiresIn"))
        if not isinstance(token, str) or not token or lifetime_s is None:
            raise SpApiError(f"{CREATE_RDT}: response without a token", retryable=True)
        return token, lifetime_s
