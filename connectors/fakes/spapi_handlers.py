"""The fake's operations on synthetic orders: searchOrders, getOrder, getOrders, getOrderItems,
createRestrictedDataToken. Parameters are checked the way Amazon documents them (a wrong one is
a 400 `InvalidInput`), pages are bound to the query that started them, PII appears only where
the request's data sets or restricted data token allow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.fakes.amazon_orders import FakeOrder
from connectors.fakes.amazon_views import view_v0, view_v0_items, view_v2026
from connectors.fakes.models import ApiModels
from connectors.fakes.schema import SchemaError
from connectors.fakes.spapi_state import RestrictedResource, ServerState, query_key

__all__ = ["OrderHandlers", "Reply", "error_reply", "json_reply"]

_INCLUDED_DATA = frozenset(
    {
        "BUYER",
        "RECIPIENT",
        "PROCEEDS",
        "EXPENSE",
        "PROMOTION",
        "CANCELLATION",
        "FULFILLMENT",
        "PACKAGES",
        "TAX",
        "PAYMENT",
        "FULFILLMENT_ORDERS",
    }
)
# Paths a restricted data token may be asked for (Orders API v0), and which need dataElements.
_RESTRICTED_PATHS = re.compile(
    r"^/orders/v0/orders(/[^/]+(/orderItems|/orderItems/buyerInfo|/address|/buyerInfo)?)?$"
)
_NEEDS_ELEMENTS = re.compile(r"^/orders/v0/orders(/[^/]+(/orderItems)?)?$")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def json_reply(status: int, document: Any) -> Reply:
    return Reply(status, json.dumps(document, separators=(",", ":")).encode())


def error_reply(status: int, code: str, message: str, details: str = "") -> Reply:
    return json_reply(status, {"errors": [{"code": code, "message": message, "details": details}]})


def invalid(details: str) -> Reply:
    return error_reply(400, "InvalidInput", "Invalid Input", details)


class OrderHandlers:
    def __init__(self, state: ServerState, models: ApiModels, *, validate: bool) -> None:
        self._state = state
        self._models = models
        self._validate = validate

    # -- v2026 ---------------------------------------------------------------------------

    def search_orders(
        self, seller: str, params: Mapping[str, str], now: datetime, now_s: float
    ) -> Reply:
        window = _window(
            params, ("createdAfter", "createdBefore"), ("lastUpdatedAfter", "lastUpdatedBefore")
        )
        if isinstance(window, Reply):
            return window
        field_name, after, before = window
        included = frozenset(_csv(params.get("includedData")))
        if not included <= _INCLUDED_DATA:
            return invalid("includedData has an unknown value")
        page = self._page(
            seller,
            "orders.searchOrders",
            params,
            token_param="paginationToken",  # noqa: S106 (a parameter name)
            size_param="maxResultsPerPage",
            marketplaces=_csv(params.get("marketplaceIds")),
            when=(lambda o: o.created_at) if field_name == "created" else (lambda o: o.updated_at),
            after=after,
            before=before or now,
            now_s=now_s,
        )
        if isinstance(page, Reply):
            return page
        orders, next_token = page
        document: dict[str, Any] = {"orders": [view_v2026(o, included) for o in orders]}
        if next_token:
            document["pagination"] = {"nextToken": next_token}
        document[f"{field_name}Before"] = _iso(before or now)
        return self._reply("orders", "SearchOrdersResponse", document)

    def get_order(self, seller: str, order_id: str, params: Mapping[str, str]) -> Reply:
        included = frozenset(_csv(params.get("includedData")))
        if not included <= _INCLUDED_DATA:
            return invalid("includedData has an unknown value")
        order = self._find(seller, order_id)
        if order is None:
            return error_reply(404, "NotFound", "The order was not found")
        return self._reply("orders", "GetOrderResponse", {"order": view_v2026(order, included)})

    # -- v0 ------------------------------------------------------------------------------

    def get_orders_v0(
        self,
        seller: str,
        params: Mapping[str, str],
        elements: frozenset[str],
        now: datetime,
        now_s: float,
    ) -> Reply:
        marketplaces = _csv(params.get("MarketplaceIds"))
        if not marketplaces:
            return invalid("MarketplaceIds is required")
        window = _window(
            params, ("CreatedAfter", "CreatedBefore"), ("LastUpdatedAfter", "LastUpdatedBefore")
        )
        if isinstance(window, Reply):
            return window
        field_name, after, before = window
        page = self._page(
            seller,
            "ordersV0.getOrders",
            params,
            token_param="NextToken",  # noqa: S106 (a parameter name)
            size_param="MaxResultsPerPage",
            marketplaces=marketplaces,
            when=(lambda o: o.created_at) if field_name == "Created" else (lambda o: o.updated_at),
            after=after,
            before=before or now,
            now_s=now_s,
        )
        if isinstance(page, Reply):
            return page
        orders, next_token = page
        payload: dict[str, Any] = {
            "Orders": [
                view_v0(
                    o,
                    buyer_info="buyerInfo" in elements,
                    shipping_address="shippingAddress" in elements,
                )
                for o in orders
            ]
        }
        if next_token:
            payload["NextToken"] = next_token
        payload[f"{field_name}Before"] = _iso(before or now)
        return self._reply("ordersV0", "GetOrdersResponse", {"payload": payload})

    def get_order_items_v0(self, seller: str, order_id: str, elements: frozenset[str]) -> Reply:
        order = self._find(seller, order_id)
        if order is None:
            return error_reply(404, "NotFound", "The order was not found")
        payload = {
            "AmazonOrderId": order_id,
            "OrderItems": view_v0_items(order, buyer_info="buyerInfo" in elements),
        }
        return self._reply("ordersV0", "GetOrderItemsResponse", {"payload": payload})

    # -- tokens --------------------------------------------------------------------------

    def create_rdt(self, seller: str, body: bytes, now_s: float) -> Reply:
        try:
            request = json.loads(body or b"null")
            self._models.schemas["tokens"].validate(request, "CreateRestrictedDataTokenRequest")
        except (ValueError, SchemaError):
            return error_reply(400, "InvalidInput", "Request is missing or has invalid parameters")
        resources = []
        for resource in request["restrictedResources"]:
            path = resource["path"]
            elements = resource.get("dataElements")
            if not _RESTRICTED_PATHS.match(path):
                return error_reply(400, "InvalidRequest", "Invalid restricted resource path")
            if _NEEDS_ELEMENTS.match(path) and not elements:
                return error_reply(400, "InvalidRequest", "dataElements is required for path")
            resources.append(
                RestrictedResource(resource["method"], path, frozenset(elements or ()))
            )
        if not 1 <= len(resources) <= 50:
            return error_reply(400, "InvalidRequest", "Resource not provided.")
        token = self._state.issue(seller, "rdt", now_s, tuple(resources))
        document = {"restrictedDataToken": token, "expiresIn": int(self._state.token_lifetime_s)}
        return self._reply("tokens", "CreateRestrictedDataTokenResponse", document)

    # -- shared --------------------------------------------------------------------------

    def _page(
        self,
        seller: str,
        operation: str,
        params: Mapping[str, str],
        *,
        token_param: str,
        size_param: str,
        marketplaces: list[str],
        when: Callable[[FakeOrder], datetime],
        after: datetime,
        before: datetime,
        now_s: float,
    ) -> tuple[list[FakeOrder], str | None] | Reply:
        try:
            size = int(params.get(size_param, "100"))
        except ValueError:
            return invalid(f"{size_param} is not an integer")
        if not 1 <= size <= 100:
            return invalid(f"{size_param} must be between 1 and 100")
        if len(marketplaces) > 50:
            return invalid("too many marketplace ids")
        declared = self._models.operation(operation).query_params
        key = query_key(params, declared, skip=token_param)
        offset = 0
        token = params.get(token_param)
        if token:
            found = self._state.page_offset(token, seller, operation, key, now_s)
            if found is None:
                return invalid(f"{token_param} is invalid or expired")
            offset = found
        matching = sorted(
            (
                o
                for o in self._state.orders[seller]
                if (not marketplaces or o.marketplace_id in marketplaces)
                and after <= when(o) <= before
            ),
            key=lambda o: (when(o), o.order_id),
        )
        page = matching[offset : offset + size]
        next_token = None
        if offset + size < len(matching):
            next_token = self._state.issue_page_token(seller, operation, key, offset + size, now_s)
        return page, next_token

    def _find(self, seller: str, order_id: str) -> FakeOrder | None:
        return next((o for o in self._state.orders[seller] if o.order_id == order_id), None)

    def _reply(self, api: str, definition: str, document: Any) -> Reply:
        if self._validate:
            try:
                self._models.schemas[api].validate(document, definition)
            except SchemaError as exc:  # a bug in the fake: make it loud
                return error_reply(
                    500, "FakeSchemaViolation", "fake payload breaks schema", str(exc)
                )
        return json_reply(200, document)


def _window(
    params: Mapping[str, str], created: tuple[str, str], updated: tuple[str, str]
) -> tuple[str, datetime, datetime | None] | Reply:
    """Exactly one of the created or last-updated ranges, as Amazon requires."""
    has_created = any(params.get(name) for name in created)
    has_updated = any(params.get(name) for name in updated)
    if has_created == has_updated or not (params.get(created[0]) or params.get(updated[0])):
        return invalid("Provide exactly one of the created or the last-updated range")
    after_name, before_name = created if has_created else updated
    after = _parse_time(params.get(after_name))
    before = _parse_time(params.get(before_name)) if params.get(before_name) else None
    if after is None or (params.get(before_name) and before is None):
        return invalid("dates must be ISO 8601")
    if before is not None and before < after:
        return invalid("the range ends before it starts")
    field_name = after_name.removesuffix("After")
    return field_name, after, before


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _csv(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
