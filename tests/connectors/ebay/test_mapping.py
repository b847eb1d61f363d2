"""GetOrders Order node -> canonical Order: fields, PII classification, status, quarantine."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.classify import split
from connectors.ebay import MappingContext, QuarantineItem, map_order, map_orders
from connectors.ebay.dates import parse_ebay_datetime
from connectors.order import Order, OrderStatus
from tests.connectors.ebay.nodes import BASE_ORDER, Amount, node, nodes, order_with

CTX = MappingContext(client_id="acme", account="acme-ebay", site="3")


def mapped(order: dict[str, Any]) -> Order:
    return map_order(node(order), CTX)


def only(order: dict[str, Any]) -> Order | QuarantineItem:
    (result,) = map_orders(nodes(order), CTX)
    return result


def test_every_field_lands_where_the_canonical_order_expects_it() -> None:
    order = mapped(BASE_ORDER)
    assert order.key == ("acme", "ebay", "12-34567-89012")
    assert order.account == "acme-ebay"
    assert order.site == "3"
    assert order.status is OrderStatus.UNSHIPPED  # paid, nothing shipped yet
    assert order.purchased_at == datetime(2026, 2, 1, 8, 15, 30, 250000, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 2, 3, 10, tzinfo=UTC)
    assert order.latest_delivery_by == datetime(2026, 2, 6, 18, tzinfo=UTC)
    assert order.order_total is not None
    assert order.order_total.amount == Decimal("30.30")
    assert order.currency == "EUR"
    assert order.buyer_message == "Bitte klingeln bei Adler"
    buyer = order.buyer
    assert buyer is not None
    assert buyer.email == "ada.adler@buyers.example.invalid"
    assert buyer.name == "Ada Adler"
    assert buyer.username == "ada_adler_77"
    assert buyer.eias_token == BASE_ORDER["EIASToken"]
    assert buyer.tax_id == "DE123456789"
    assert buyer.tax_info == {"VATIN": "DE123456789"}
    address = order.shipping_address
    assert address is not None
    assert (address.name, address.line1, address.line2) == (
        "Ada Adler",
        "Lindenweg 7",
        "Hinterhaus",
    )
    assert (address.city, address.state_or_region, address.postal_code) == ("Berlin", "BE", "10115")
    assert (address.country_code, address.phone) == ("DE", "+49 30 55501234")
    (item,) = order.items
    assert item.marketplace_item_id == "110012345678-2000012345"
    assert item.product_id == "110012345678"
    assert item.sku == "MUG-BLUE"  # the variation's SKU, not the listing's
    assert item.title == "Blue mug [Colour: blue]"
    assert item.quantity == 2
    assert item.quantity_shipped is None
    assert item.unit_price is not None
    assert item.unit_price.amount == Decimal("12.90")
    assert item.item_price is not None
    assert item.item_price.amount == Decimal("25.80")
    assert item.item_tax is not None
    assert item.item_tax.amount == Decimal("4.12")
    assert item.shipping_price is not None
    assert item.shipping_price.amount == Decimal("4.50")


def test_buyers_are_keyed_on_the_eias_token_never_on_the_username() -> None:
    buyer = mapped(BASE_ORDER).buyer
    assert buyer is not None
    assert buyer.marketplace_buyer_id == BASE_ORDER["EIASToken"]
    without = mapped(order_with(EIASToken=None)).buyer
    assert without is not None
    assert without.marketplace_buyer_id is None  # not silently the changeable username
    assert without.username == "ada_adler_77"


def test_a_line_level_eias_token_is_used_when_the_order_has_none() -> None:
    order = order_with(EIASToken=None)
    order["TransactionArray"]["Transaction"][0]["Buyer"]["EIASToken"] = "nY+line-level=="
    buyer = mapped(order).buyer
    assert buyer is not None
    assert buyer.marketplace_buyer_id == "nY+line-level=="


def test_every_pii_value_is_in_the_pii_part_and_none_in_the_clear_part() -> None:
    order = mapped(BASE_ORDER)
    clear, pii = split(order)
    clear_json, pii_json = json.dumps(clear), json.dumps(pii)
    personal = [
        "ada.adler@buyers.example.invalid",
        "Ada Adler",
        "ada_adler_77",
        BASE_ORDER["EIASToken"],
        "DE123456789",
        "Bitte klingeln bei Adler",
        "Lindenweg 7",
        "Hinterhaus",
        "Berlin",
        "10115",
        "+49 30 55501234",
    ]
    for value in personal:
        assert json.dumps(value)[1:-1] not in clear_json, value
        assert json.dumps(value)[1:-1] in pii_json, value
    assert clear["shipping_address"]["country_code"] == "DE"  # routing needs it in clear
    assert clear["items"][0]["sku"] == "MUG-BLUE"
    assert pii["buyer"]["marketplace_buyer_id"] == BASE_ORDER["EIASToken"]


def test_values_ebay_hides_read_as_absent() -> None:
    order = copy.deepcopy(BASE_ORDER)
    order["TransactionArray"]["Transaction"][0]["Buyer"]["Email"] = "Invalid Request"
    order["ShippingAddress"]["Phone"] = "Invalid Request"
    result = mapped(order)
    assert result.buyer is not None
    assert result.buyer.email is None
    assert result.shipping_address is not None
    assert result.shipping_address.phone is None


# -- delivery: ShippingPackageInfo as one node or many ----------------------------------------


def _with_packages(*packages: dict[str, str], shipped: bool = True) -> dict[str, Any]:
    order = copy.deepcopy(BASE_ORDER)
    info: Any = packages[0] if len(packages) == 1 else list(packages)
    order["ShippingServiceSelected"]["ShippingPackageInfo"] = info
    if shipped:
        order["ShippedTime"] = "2026-02-02T09:00:00.000Z"
    return order


def test_a_single_delivered_package_delivers_the_order() -> None:
    order = mapped(
        _with_packages(
            {
                "EstimatedDeliveryTimeMax": "2026-02-06T18:00:00.000Z",
                "ActualDeliveryTime": "2026-02-05T11:30:00.000Z",
            }
        )
    )
    assert order.status is OrderStatus.DELIVERED
    assert order.delivered_at == datetime(2026, 2, 5, 11, 30, tzinfo=UTC)
    assert order.delivery_source == "actual_delivery_time"
    assert order.shipped_at == datetime(2026, 2, 2, 9, tzinfo=UTC)


def test_a_list_of_packages_is_delivered_when_the_last_one_is() -> None:
    order = mapped(
        _with_packages(
            {"ActualDeliveryTime": "2026-02-05T11:30:00.000Z"},
            {"ActualDeliveryTime": "2026-02-07T09:00:00.000+01:00"},
        )
    )
    assert order.status is OrderStatus.DELIVERED
    assert order.delivered_at == datetime(2026, 2, 7, 8, tzinfo=UTC)


def test_a_list_of_packages_with_one_still_underway_is_shipped_not_delivered() -> None:
    order = mapped(
        _with_packages(
            {
                "ActualDeliveryTime": "2026-02-05T11:30:00.000Z",
                "EstimatedDeliveryTimeMax": "2026-02-06T00:00:00.000Z",
            },
            {"EstimatedDeliveryTimeMax": "2026-02-09T00:00:00.000Z"},
        )
    )
    assert order.status is OrderStatus.SHIPPED
    assert order.delivered_at is None
    assert order.delivery_source is None
    assert order.latest_delivery_by == datetime(2026, 2, 9, tzinfo=UTC)


def test_scheduled_delivery_stands_in_for_a_missing_estimate() -> None:
    order = mapped(_with_packages({"ScheduledDeliveryTimeMax": "2026-02-08T12:00:00.000Z"}))
    assert order.latest_delivery_by == datetime(2026, 2, 8, 12, tzinfo=UTC)


def test_line_level_packages_count_when_the_order_level_lists_none() -> None:
    order = copy.deepcopy(BASE_ORDER)
    del order["ShippingServiceSelected"]["ShippingPackageInfo"]
    line = order["TransactionArray"]["Transaction"][0]
    line["ShippingServiceSelected"] = {
        "ShippingPackageInfo": {"ActualDeliveryTime": "2026-02-05T11:30:00.000Z"}
    }
    assert mapped(order).delivered_at == datetime(2026, 2, 5, 11, 30, tzinfo=UTC)


# -- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cancel_status", "cancelled"),
    [
        ("CancelComplete", True),
        ("CancelClosedWithRefund", True),
        ("CancelClosedNoRefund", True),
        ("CancelClosedForCommitment", True),
        ("CancelRequested", False),
        ("CancelPending", False),
        ("CancelRejected", False),
        ("NotApplicable", False),
    ],
)
def test_a_cancellation_counts_once_ebay_closed_it(cancel_status: str, cancelled: bool) -> None:
    order = mapped(
        order_with(
            CancelStatus=cancel_status,
            CancelDetail={"CancelCompleteDate": "2026-02-02T07:00:00.000-05:00"},
        )
    )
    assert (order.status is OrderStatus.CANCELLED) is cancelled
    assert order.cancelled_at == (datetime(2026, 2, 2, 12, tzinfo=UTC) if cancelled else None)


def test_a_cancelled_order_without_a_completion_date_is_cancelled_when_last_modified() -> None:
    order = mapped(order_with(OrderStatus="Cancelled"))
    assert order.status is OrderStatus.CANCELLED
    assert order.cancelled_at == order.updated_at


def test_cancellation_wins_over_a_delivery() -> None:
    order = _with_packages({"ActualDeliveryTime": "2026-02-05T11:30:00.000Z"})
    order["CancelStatus"] = "CancelClosedWithRefund"
    result = mapped(order)
    assert result.status is OrderStatus.CANCELLED
    assert result.delivered_at is None


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        (
            {
                "OrderStatus": "Active",
                "PaidTime": None,
                "CheckoutStatus": {"Status": "Incomplete"},
            },
            OrderStatus.PENDING,
        ),
        ({"OrderStatus": "Active", "PaidTime": None}, OrderStatus.UNSHIPPED),  # checkout done
        ({"ShippedTime": "2026-02-02T09:00:00.000Z"}, OrderStatus.SHIPPED),
        ({"OrderStatus": "Shipped"}, OrderStatus.SHIPPED),
    ],
)
def test_status_follows_payment_and_shipment(changes: dict[str, Any], status: OrderStatus) -> None:
    assert mapped(order_with(**changes)).status is status


def test_some_lines_shipped_is_partially_shipped_and_all_lines_shipped_is_shipped() -> None:
    order = copy.deepcopy(BASE_ORDER)
    first = order["TransactionArray"]["Transaction"][0]
    second = copy.deepcopy(first) | {"OrderLineItemID": "110012345678-2000012399"}
    first["ShippedTime"] = "2026-02-02T09:00:00.000Z"
    order["TransactionArray"]["Transaction"].append(second)
    partly = mapped(order)
    assert partly.status is OrderStatus.PARTIALLY_SHIPPED
    assert partly.shipped_at is None
    assert [i.quantity_shipped for i in partly.items] == [2, None]
    second["ShippedTime"] = "2026-02-03T09:00:00.000Z"
    fully = mapped(order)
    assert fully.status is OrderStatus.SHIPPED
    assert fully.shipped_at == datetime(2026, 2, 3, 9, tzinfo=UTC)


# -- timezones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("2026-02-01T23:30:00.000Z", datetime(2026, 2, 1, 23, 30, tzinfo=UTC)),
        ("2026-02-01T23:30:00.000+02:00", datetime(2026, 2, 1, 21, 30, tzinfo=UTC)),
        ("2026-02-01T23:30:00-08:00", datetime(2026, 2, 2, 7, 30, tzinfo=UTC)),
        ("2026-02-01T23:30:00.123456789+0530", datetime(2026, 2, 1, 18, 0, 0, 123456, UTC)),
    ],
)
def test_timestamps_keep_their_offset(raw: str, utc: datetime) -> None:
    assert parse_ebay_datetime(raw) == utc
    assert mapped(order_with(CreatedTime=raw)).purchased_at == utc


@pytest.mark.parametrize(
    "raw",
    [
        "2026-02-01T23:30:00.000",
        "2026-02-01",
        "01.02.2026 23:30",
        "2026-02-30T10:00:00Z",
        "9999-12-31T23:59:59.000-01:00",  # a valid time whose UTC instant does not exist
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_a_timestamp_that_cannot_be_placed_quarantines_the_order(raw: str) -> None:
    result = only(order_with(CreatedTime=raw))
    assert isinstance(result, QuarantineItem)
    assert result.field == "CreatedTime"
    assert raw not in result.reason


# -- quarantine -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"OrderID": None}, "OrderID", "required field is missing"),
        ({"CreatedTime": None}, "CreatedTime", "required field is missing"),
        ({"OrderStatus": "CustomCode"}, "OrderStatus", "unknown value"),
        ({"Total": Amount("30.30", None)}, "Total.currencyID", "three-letter"),
        ({"Total": Amount("thirty")}, "Total", "expected a decimal amount"),
        (
            {"ShippingAddress": {"Name": "Ada Adler", "Country": "Deutschland"}},
            "shipping_address.country_code",
            "does not match",
        ),
    ],
)
def test_a_malformed_node_is_quarantined_naming_the_field_not_the_value(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    result = only(order_with(**changes))
    assert isinstance(result, QuarantineItem)
    assert result.field == field
    assert reason in result.reason
    for value in ("Ada", "Adler", "Deutschland", "thirty", "Lindenweg"):
        assert value not in result.field + result.reason
    assert b"<Order>" in result.payload
    assert b"Adler" in result.payload
    assert "Adler" not in repr(result)


def test_a_malformed_line_names_the_line_and_its_field() -> None:
    order = copy.deepcopy(BASE_ORDER)
    order["TransactionArray"]["Transaction"][0]["QuantityPurchased"] = "two"
    result = only(order)
    assert isinstance(result, QuarantineItem)
    assert result.field == "TransactionArray/Transaction[0]/QuantityPurchased"
    assert result.marketplace_order_id == "12-34567-89012"


def test_one_malformed_order_does_not_stop_the_rest_of_the_page() -> None:
    good_a = order_with(OrderID="01-00001-00001")
    bad = order_with(OrderID="01-00001-00002", CreatedTime="2026-02-01T23:30:00")
    good_b = order_with(OrderID="01-00001-00003")
    results = list(map_orders(nodes(good_a, bad, good_b), CTX))
    assert [type(r).__name__ for r in results] == ["Order", "QuarantineItem", "Order"]
    assert results[1].marketplace_order_id == "01-00001-00002"


def test_an_order_id_that_does_not_look_like_one_is_not_carried_into_the_quarantine_row() -> None:
    result = only(order_with(OrderID="ada.adler@buyers.example.invalid", CreatedTime="x"))
    assert isinstance(result, QuarantineItem)
    assert result.marketplace_order_id is None
