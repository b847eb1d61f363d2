"""Amazon payloads -> canonical orders: Amazon's own sandbox examples, PII classified."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.amazon import MappingContext, QuarantineItem, map_v0, map_v2026
from connectors.classify import canonical_json, split
from connectors.order import Order, OrderStatus
from tests.connectors.amazon.helpers import model

OBSERVED = datetime(2026, 3, 1, tzinfo=UTC)
CTX = MappingContext(client_id="acme", account="acme-eu", observed_at=OBSERVED)


def _sandbox(document: dict[str, Any], path: str, key: str) -> list[Any]:
    responses = document["paths"][path]["get"]["responses"]["200"]
    return [example["response"] for example in responses["x-amzn-api-sandbox"]["static"]]


V2026 = model("orders_2026-01-01.json")
V0 = model("ordersV0.json")
SEARCH_EXAMPLES = _sandbox(V2026, "/orders/2026-01-01/orders", "orders")
GET_EXAMPLES = _sandbox(V2026, "/orders/2026-01-01/orders/{orderId}", "order")
V2026_ORDERS = {
    o["orderId"]: o
    for o in [o for r in SEARCH_EXAMPLES for o in r["orders"]] + [r["order"] for r in GET_EXAMPLES]
}


def _order(result: Order | QuarantineItem) -> Order:
    assert isinstance(result, Order), result
    return result


def _assert_pii_only(order: Order, values: list[str]) -> None:
    clear, pii = split(order)
    clear_bytes, pii_bytes = canonical_json(clear), canonical_json(pii)
    for value in values:
        assert value.encode() not in clear_bytes, f"{value!r} leaked into the clear part"
        assert value.encode() in pii_bytes, f"{value!r} missing from the PII part"


def test_every_v2026_sandbox_order_maps() -> None:
    assert len(V2026_ORDERS) == 6
    for raw in V2026_ORDERS.values():
        order = _order(map_v2026(raw, CTX))
        assert order.marketplace_order_id == raw["orderId"]
        assert order.items


def test_v2026_business_order_classifies_buyer_recipient_and_tax_data_as_pii() -> None:
    order = _order(map_v2026(V2026_ORDERS["171-2345678-9012345"], CTX))
    assert order.buyer is not None
    assert order.shipping_address is not None
    assert order.buyer.company == "Oliveira Tecnologia Ltda"
    assert order.buyer.purchase_order_number == "PO-BR-2024-5678"
    assert order.buyer.tax_id == "1234567890"
    assert order.shipping_address.extended == {
        "street_name": "Avenida Paulista",
        "street_number": "1000",
        "complement": "Sala 301",
        "neighborhood": "Bela Vista",
    }
    _assert_pii_only(
        order,
        [
            "Carlos Oliveira",
            "buyer-email@marketplace.amazon.com.br",
            "Oliveira Tecnologia Ltda",
            "PO-BR-2024-5678",
            "Avenida Paulista, 1000",
            "Sala 301",
            "01310-100",
            "+55 11 91234-5678",
            "Bela Vista",
        ],
    )
    # (The tax number's digits also occur inside the clear item id, so check it by place.)
    assert split(order)[1]["buyer"]["tax_id"] == "1234567890"
    assert "tax_id" not in split(order)[0]["buyer"]
    # Not PII, and needed in clear for routing and reports.
    clear, _ = split(order)
    assert clear["shipping_address"]["country_code"] == "BR"
    assert clear["site"] == "A2Q3Y263D00KWC"
    assert order.status is OrderStatus.UNSHIPPED
    assert order.latest_delivery_by == datetime(2024, 12, 30, 23, 59, 59, tzinfo=UTC)
    assert order.items[0].unit_price is not None
    assert order.items[0].unit_price.amount == Decimal("1599.90")


def test_v2026_gift_message_and_tax_registration_address_are_pii() -> None:
    gift = _order(map_v2026(V2026_ORDERS["171-9876543-2109876"], CTX))
    _assert_pii_only(gift, ["Feliz Natal! Espero que goste do seu novo alto-falante inteligente!"])
    business = _order(map_v2026(V2026_ORDERS["028-1234567-8901234"], CTX))
    assert business.buyer is not None
    assert business.buyer.tax_info is not None
    assert business.buyer.tax_info["attribute.TAX_OFFICE"] == "tax office"
    assert business.buyer.tax_info["address.line1"] == "Istiklal Caddesi No:42"
    _assert_pii_only(business, ["TR1234567890", "Test company name", "tax office"])


def test_v2026_empty_strings_are_absent_not_empty() -> None:
    order = _order(map_v2026(V2026_ORDERS["202-7654321-1098765"], CTX))
    address = order.shipping_address
    assert address is not None
    assert address.line3 is None  # addressLine3: ""
    assert address.extended is None  # municipality: ""
    assert address.line2 == "Flat 2A"
    _assert_pii_only(order, ["Sarah Thompson", "45 Oak Avenue", "SW1A 1AA", "+44 20 7946 0958"])


def test_v2026_order_without_buyer_data_has_no_buyer() -> None:
    order = _order(map_v2026(V2026_ORDERS["114-9876543-1234567"], CTX))
    assert order.buyer is None
    assert order.shipping_address is not None
    assert order.shipping_address.company == "Test Store"


def test_v2026_shipped_order_in_transit_is_not_delivered() -> None:
    order = _order(map_v2026(V2026_ORDERS["202-7654321-1098765"], CTX))
    assert order.status is OrderStatus.SHIPPED
    assert order.delivered_at is None
    assert order.shipped_at == datetime(2024, 12, 25, 14, 0, tzinfo=UTC)
    assert order.latest_delivery_by == datetime(2024, 12, 28, 23, 59, 59, tzinfo=UTC)


def _delivered(raw: dict[str, Any], *statuses: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    template = raw["packages"][0]
    raw["packages"] = [
        {**copy.deepcopy(template), "packageReferenceId": f"P{i}", "packageStatus": {"status": s}}
        for i, s in enumerate(statuses)
    ]
    return raw


def test_v2026_all_packages_delivered_sets_delivered_at_bounded_by_the_last_update() -> None:
    raw = _delivered(V2026_ORDERS["202-7654321-1098765"], "DELIVERED", "CANCELLED")
    order = _order(map_v2026(raw, CTX))
    assert order.status is OrderStatus.DELIVERED
    assert order.delivery_source == "package_status"
    # First seen on 2026-03-01, but the order last changed (shipTime is later than its
    # lastUpdatedTime here) in December 2024: retention runs from then, not from today.
    assert order.delivered_at == datetime(2024, 12, 25, 14, 0, tzinfo=UTC)
    early = MappingContext("acme", "acme-eu", observed_at=datetime(2024, 12, 25, 13, tzinfo=UTC))
    assert _order(map_v2026(raw, early)).delivered_at == early.observed_at


def test_v2026_partial_delivery_is_not_the_orders_delivery() -> None:
    raw = _delivered(V2026_ORDERS["202-7654321-1098765"], "DELIVERED", "IN_TRANSIT")
    order = _order(map_v2026(raw, CTX))
    assert order.delivered_at is None
    assert order.status is OrderStatus.SHIPPED


def test_v2026_cancellation_sets_cancelled_at() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    raw["fulfillment"]["fulfillmentStatus"] = "CANCELLED"
    order = _order(map_v2026(raw, CTX))
    assert order.status is OrderStatus.CANCELLED
    assert order.cancelled_at == datetime(2024, 12, 23, 10, 0, tzinfo=UTC)
    assert order.delivery_or_cancel_day() == datetime(2024, 12, 23).date()


def test_v2026_items_scheduled_window_is_the_estimate_without_an_order_window() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    del raw["fulfillment"]["deliverByWindow"]
    raw["orderItems"][0]["fulfillment"]["shipping"] = {
        "scheduledDeliveryWindow": {"latestDateTime": "2025-01-03T12:00:00Z"}
    }
    order = _order(map_v2026(raw, CTX))
    assert order.latest_delivery_by == datetime(2025, 1, 3, 12, tzinfo=UTC)


# -- v0 ------------------------------------------------------------------------------------


def _v0_example(path: str, case: str = "TEST_CASE_200") -> Any:
    op = V0["paths"][path]["get"]
    for example in op["responses"]["200"]["x-amzn-api-sandbox"]["static"]:
        values = [p["value"] for p in example["request"]["parameters"].values()]
        if case in values:
            return example["response"]["payload"]
    raise AssertionError(case)


def _v0_with_restricted_data() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """getOrders/getOrderItems as they answer with an RDT, from Amazon's own examples."""
    order = copy.deepcopy(_v0_example("/orders/v0/orders")["Orders"][0])
    buyer = _v0_example("/orders/v0/orders/{orderId}/buyerInfo")
    order["BuyerInfo"] = {k: v for k, v in buyer.items() if k != "AmazonOrderId"}
    order["ShippingAddress"] = _v0_example("/orders/v0/orders/{orderId}/address")["ShippingAddress"]
    items = copy.deepcopy(_v0_example("/orders/v0/orders/{orderId}/orderItems")["OrderItems"])
    item_buyer = _v0_example("/orders/v0/orders/{orderId}/orderItems/buyerInfo")["OrderItems"][0]
    items[0]["BuyerInfo"] = {k: v for k, v in item_buyer.items() if k != "OrderItemId"}
    return order, items


def test_v0_sandbox_order_with_restricted_data_classifies_pii() -> None:
    raw, items = _v0_with_restricted_data()
    order = _order(map_v0(raw, items, CTX))
    assert order.marketplace_order_id == "902-1845936-5435065"
    assert order.status is OrderStatus.UNSHIPPED
    assert order.fulfillment_channel == "merchant"
    assert order.order_total is not None
    assert order.order_total.amount == Decimal("11.01")
    assert order.latest_delivery_by == datetime(1970, 1, 19, 4, 15, 17, tzinfo=UTC)
    assert order.delivered_at is None  # Easy Ship PendingPickUp
    _assert_pii_only(
        order,
        [
            "fzyrv6gwkhbb15c@example.com",
            "MFNIntegrationTestMerchant",
            "2201 WESTLAKE AVE",
            "98121-2778",
            "+1 480-386-0930 ext. 73824",
            "Et toi!",
            "https://zme-caps.amazon.com/t/bR6qHkzSOxuB/J8nbWhze0Bd3DkajkOdY-XQbWkFralegp2sr_QZiKEE/1",
        ],
    )
    assert split(order)[0]["shipping_address"]["country_code"] == "US"


def test_v0_sandbox_orders_without_restricted_data_carry_no_buyer() -> None:
    items = _v0_example("/orders/v0/orders/{orderId}/orderItems")["OrderItems"]
    for raw in _v0_example("/orders/v0/orders")["Orders"]:
        order = _order(map_v0(raw, items, CTX))
        assert order.buyer is None
        assert order.shipping_address is None


def test_v0_afn_order_has_no_address() -> None:
    raw = V0["paths"]["/orders/v0/orders/{orderId}"]["get"]["responses"]["200"][
        "x-amzn-api-sandbox"
    ]["static"][1]["response"]["payload"]
    order = _order(map_v0(raw, [], CTX))
    assert order.fulfillment_channel == "amazon"
    assert order.shipping_address is None
    assert order.status is OrderStatus.SHIPPED


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"EasyShipShipmentStatus": "Delivered"}, OrderStatus.DELIVERED, "delivered_at"),
        ({"OrderStatus": "Canceled"}, OrderStatus.CANCELLED, "cancelled_at"),
    ],
)
def test_v0_easy_ship_delivery_and_cancellation(
    change: dict[str, str], status: OrderStatus, field: str
) -> None:
    raw, items = _v0_with_restricted_data()
    order = _order(map_v0({**raw, **change}, items, CTX))
    assert order.status is status
    assert getattr(order, field) == datetime(1970, 1, 19, 3, 58, 32, tzinfo=UTC)  # LastUpdateDate
    if status is OrderStatus.DELIVERED:
        assert order.delivery_source == "easy_ship"


# -- quarantine ----------------------------------------------------------------------------

PII_VALUES = ("Carlos Oliveira", "buyer-email@marketplace.amazon.com.br", "Avenida Paulista")


def _quarantined(result: Order | QuarantineItem) -> QuarantineItem:
    assert isinstance(result, QuarantineItem), result
    for value in PII_VALUES:
        assert value not in result.reason
        assert value not in result.field
        assert value not in repr(result)
    return result


def test_a_payload_field_of_the_wrong_type_is_quarantined_with_amazons_field_name() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    raw["orderItems"][0]["quantityOrdered"] = "Carlos Oliveira"
    item = _quarantined(map_v2026(raw, CTX))
    assert item.field == "orderItems[0].quantityOrdered"
    assert item.reason == "payload: expected an integer"
    assert item.marketplace_order_id == "171-2345678-9012345"
    assert json.loads(item.payload) == raw  # the pipeline seals exactly what Amazon sent


def test_a_value_the_canonical_order_refuses_names_the_canonical_field() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    raw["recipient"]["deliveryAddress"]["countryCode"] = "Brasil"
    item = _quarantined(map_v2026(raw, CTX))
    assert item.field == "shipping_address.country_code"
    assert item.reason == "canonical order: does not match the expected format"


def test_an_oversized_pii_value_is_quarantined_without_quoting_it() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    raw["buyer"]["buyerEmail"] = "Carlos Oliveira " * 300
    item = _quarantined(map_v2026(raw, CTX))
    assert (item.field, item.reason) == ("buyer.email", "canonical order: too long")


def test_missing_order_id_and_unknown_status() -> None:
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    del raw["orderId"]
    item = _quarantined(map_v2026(raw, CTX))
    assert (item.field, item.marketplace_order_id) == ("orderId", None)
    raw = copy.deepcopy(V2026_ORDERS["171-2345678-9012345"])
    raw["fulfillment"]["fulfillmentStatus"] = "TELEPORTED"
    assert _quarantined(map_v2026(raw, CTX)).field == "fulfillment.fulfillmentStatus"


def test_v0_bad_item_is_quarantined_with_the_whole_bundle() -> None:
    raw, items = _v0_with_restricted_data()
    items[0]["QuantityOrdered"] = "many"
    item = _quarantined(map_v0(raw, items, CTX))
    assert item.field == "orderItems[0].QuantityOrdered"
    assert item.marketplace_order_id == "902-1845936-5435065"
    assert json.loads(item.payload)["orderItems"][0]["QuantityOrdered"] == "many"
    raw["PurchaseDate"] = "yesterday"
    assert _quarantined(map_v0(raw, items, CTX)).field == "order.PurchaseDate"


@pytest.mark.parametrize("raw", ["Carlos Oliveira", 42, None, ["a"]])
def test_an_entry_that_is_not_an_object_is_kept_in_quarantine(raw: object) -> None:
    for result in (map_v2026(raw, CTX), map_v0(raw, [], CTX)):
        item = _quarantined(result)
        assert (item.field, item.reason) == ("order", "payload: expected an object")
        assert json.loads(item.payload) == {"value": raw}
