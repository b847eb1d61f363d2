"""Fuzzing eBay GetOrders orders, through the store path a pull uses.

eBay publishes the Trading API as XSD, not Swagger; `GET_ORDERS` below is the part of its
`OrderType` that GetOrders returns to a seller (every field ordervault reads, and some it does
not), written as a Swagger 2.0 definition so that the same converter builds valid and broken
orders. They are rendered as a GetOrders response, parsed by the connector's own parser and
mapped by its own mapping, then stored or quarantined by a real pull's store step: the same
property as for Amazon (`fuzz_harness.check_stored_or_quarantined`). Whatever bytes eBay
answers with, the parser returns a page or raises the connector's error, quoting nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ebay import EbayError, MappingContext, QuarantineItem, map_orders
from connectors.ebay.response import parse_get_orders
from connectors.order import Order
from connectors.page import Page
from tests.reliability.fuzz_harness import (
    NOW,
    Deployment,
    check_stored_or_quarantined,
    open_deployment,
)
from tests.reliability.schema_strategies import CANARY, Broken, SchemaStrategies

NS = "urn:ebay:apis:eBLBaseComponents"
CTX = MappingContext(client_id="acme", account="acme-ebay", site="3")


def _string(**keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


_WHEN = _string(format="date-time")
_ADDRESS = ("Name", "CompanyName", "Street1", "Street2", "CityName", "StateOrProvince")
GET_ORDERS: dict[str, Any] = {
    "swagger": "2.0",
    "definitions": {
        # An AmountType: the value is the element's text, the currency its attribute.
        "AmountType": _object(
            {"#text": _string(), "@currencyID": _string()}, ("#text", "@currencyID")
        ),
        "AddressType": _object(
            {k: _string() for k in (*_ADDRESS, "Country", "CountryName", "Phone", "PostalCode")}
            | {"AddressID": _string(), "AddressOwner": _string(enum=["eBay", "PayPal"])}
        ),
        "UserType": _object(
            {k: _string() for k in ("Email", "UserFirstName", "UserLastName", "UserID")}
            | {"EIASToken": _string(), "StaticAlias": _string()}
        ),
        "ItemType": _object(
            {"ItemID": _string(), "Title": _string(), "SKU": _string(), "Site": _string()},
            ("ItemID",),
        ),
        "VariationType": _object({"SKU": _string(), "VariationTitle": _string()}),
        "TaxesType": _object({"TotalTaxAmount": _ref("AmountType")}),
        "GiftSummaryType": _object({"Message": _string()}),
        "ShipmentPackageType": _object(
            dict.fromkeys(
                (
                    "ActualDeliveryTime",
                    "EstimatedDeliveryTimeMin",
                    "EstimatedDeliveryTimeMax",
                    "ScheduledDeliveryTimeMin",
                    "ScheduledDeliveryTimeMax",
                ),
                _WHEN,
            )
            | {"ShippingCarrierUsed": _string()}
        ),
        "ShippingServiceOptionsType": _object(
            {
                "ShippingService": _string(),
                "ShippingServiceCost": _ref("AmountType"),
                "ShippingPackageInfo": _list(_ref("ShipmentPackageType")),
            }
        ),
        "TransactionType": _object(
            {
                "Buyer": _ref("UserType"),
                "Item": _ref("ItemType"),
                "QuantityPurchased": _string(),
                "TransactionID": _string(),
                "OrderLineItemID": _string(),
                "TransactionPrice": _ref("AmountType"),
                "ShippedTime": _WHEN,
                "CreatedDate": _WHEN,
                "Taxes": _ref("TaxesType"),
                "ActualShippingCost": _ref("AmountType"),
                "Variation": _ref("VariationType"),
                "GiftSummary": _ref("GiftSummaryType"),
                "BuyerCheckoutMessage": _string(),
                "ShippingServiceSelected": _ref("ShippingServiceOptionsType"),
            },
            ("Item", "QuantityPurchased", "TransactionID", "TransactionPrice"),
        ),
        "TransactionArrayType": _object({"Transaction": _list(_ref("TransactionType"))}),
        "CheckoutStatusType": _object(
            {
                "eBayPaymentStatus": _string(enum=["NoPaymentFailure", "PaymentInProcess"]),
                "LastModifiedTime": _WHEN,
                "Status": _string(enum=["Complete", "Incomplete", "Pending"]),
            }
        ),
        "CancelDetailType": _object({"CancelCompleteDate": _WHEN, "CancelReason": _string()}),
        "TaxIdentifierType": _object(
            {"Type": _string(enum=["VATIN", "CodiceFiscale", "DNI", "NIE", "SSN"]), "ID": _string()}
        ),
        "OrderType": _object(
            {
                "OrderID": _string(),
                "ExtendedOrderID": _string(),
                "OrderStatus": _string(
                    enum=[
                        "Active",
                        "Authenticated",
                        "Cancelled",
                        "CancelPending",
                        "Completed",
                        "Default",
                        "Inactive",
                        "InProcess",
                        "Shipped",
                    ]
                ),
                "CancelStatus": _string(
                    enum=[
                        "CancelComplete",
                        "CancelClosedWithRefund",
                        "CancelClosedNoRefund",
                        "CancelRequested",
                        "NotApplicable",
                    ]
                ),
                "CancelDetail": _list(_ref("CancelDetailType")),
                "CheckoutStatus": _ref("CheckoutStatusType"),
                "CreatedTime": _WHEN,
                "ShippingAddress": _ref("AddressType"),
                "ShippingServiceSelected": _ref("ShippingServiceOptionsType"),
                "Subtotal": _ref("AmountType"),
                "Total": _ref("AmountType"),
                "AmountPaid": _ref("AmountType"),
                "TransactionArray": _ref("TransactionArrayType"),
                "BuyerUserID": _string(),
                "EIASToken": _string(),
                "PaidTime": _WHEN,
                "ShippedTime": _WHEN,
                "BuyerCheckoutMessage": _string(),
                "BuyerTaxIdentifier": _list(_ref("TaxIdentifierType")),
                "SellerUserID": _string(),
            },
            ("OrderID", "CreatedTime", "TransactionArray"),
        ),
    },
}
EBAY = SchemaStrategies(
    GET_ORDERS,
    pii={
        "AddressType": frozenset({*_ADDRESS, "Phone", "PostalCode"}),
        "UserType": frozenset({"Email", "UserFirstName", "UserLastName", "UserID", "EIASToken"}),
        "OrderType": frozenset({"BuyerUserID", "EIASToken", "BuyerCheckoutMessage"}),
        "TransactionType": frozenset({"BuyerCheckoutMessage"}),
        "GiftSummaryType": frozenset({"Message"}),
        "TaxIdentifierType": frozenset({"ID"}),
    },
    kinds={
        "#text": "decimal",
        "@currencyID": "currency",
        "Country": "country",
        "OrderID": "order-id",
        "Email": "email",
        "QuantityPurchased": "quantity",
    },
    overrides={
        "QuantityPurchased": st.integers(0, 99).map(str),
        "ItemID": st.integers(1, 10**12).map(str),
        "TransactionID": st.integers(0, 10**10).map(str),
    },
    always=frozenset({"Transaction"}),
    xml=True,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # caplog; the deployment is reset per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def render(tag: str, value: Any) -> str:
    """Dicts are child elements ("@name": an attribute, "#text": the text), lists repeat."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(render(tag, item) for item in value)
    if isinstance(value, dict):
        attributes = "".join(
            f" {key[1:]}={quoteattr(str(item))}"
            for key, item in value.items()
            if key.startswith("@") and item is not None
        )
        text = escape(str(value["#text"])) if value.get("#text") is not None else ""
        children = "".join(render(k, v) for k, v in value.items() if k[0] not in "@#")
        return f"<{tag}{attributes}>{text}{children}</{tag}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def response(orders: list[Any]) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><GetOrdersResponse xmlns="{NS}">'
        "<Timestamp>2026-03-01T12:00:00.000Z</Timestamp><Ack>Success</Ack>"
        "<PaginationResult><TotalNumberOfPages>1</TotalNumberOfPages>"
        f"<TotalNumberOfEntries>{len(orders)}</TotalNumberOfEntries></PaginationResult>"
        "<HasMoreOrders>false</HasMoreOrders><OrderArray>"
        + "".join(render("Order", order) for order in orders)
        + "</OrderArray><PageNumber>1</PageNumber></GetOrdersResponse>"
    ).encode()


def _value(order: Any) -> Any:
    return order.value if isinstance(order, Broken) else order


def _order_id(order: Any) -> object:
    found = _value(order).get("OrderID") if isinstance(_value(order), dict) else None
    return found if isinstance(found, str) else object()


def _page(orders: list[Any]) -> Page:
    """What the connector yields for a GetOrders answer carrying `orders`."""
    answer = parse_get_orders(200, response([_value(o) for o in orders]), account="acme-ebay")
    results = list(map_orders(answer.orders, CTX))
    return Page(
        orders=tuple(r for r in results if isinstance(r, Order)),
        quarantined=tuple(r for r in results if isinstance(r, QuarantineItem)),
        state={},
        position_at=NOW,
        done=True,
    )


def _pages_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, min_size=1, max_size=3, unique_by=_order_id)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with open_deployment(tmp_path_factory.mktemp("ebay") / "deploy") as opened:
        yield opened


def _pull_and_check(deployment: Deployment, orders: list[Any], caplog: Any) -> Page:
    caplog.set_level(logging.DEBUG)
    page = _page(orders)
    deployment.reset()
    check_stored_or_quarantined(
        deployment, deployment.client.ebay[0], page, marketplace="ebay", payloads=len(orders)
    )
    assert CANARY not in "\n".join(r.getMessage() for r in caplog.records)
    caplog.clear()
    return page


@FUZZ
@given(orders=_pages_of(EBAY.valid("OrderType")))
def test_valid_get_orders_orders_are_stored_and_open_back_to_the_same_pii(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, orders: list[Any]
) -> None:
    page = _pull_and_check(deployment, orders, caplog)
    assert page.quarantined == ()


@FUZZ
@given(orders=_pages_of(EBAY.broken("OrderType") | EBAY.valid("OrderType")))
def test_broken_get_orders_orders_are_stored_or_quarantined_never_raised(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, orders: list[Any]
) -> None:
    page = _pull_and_check(deployment, orders, caplog)
    for item in page.quarantined:
        assert item.payload.startswith(b"<Order")


@pytest.mark.parametrize("field", ["OrderID", "CreatedTime"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=EBAY.valid("OrderType"), damage=st.sampled_from(["drop", "", "  ", {"x": "1"}]))
def test_a_required_order_field_that_is_missing_or_empty_is_named(
    field: str, order: dict[str, Any], damage: object
) -> None:
    if damage == "drop":
        del order[field]
    else:
        order[field] = damage
    (item,) = _page([order]).quarantined
    assert item.field == field


# -- the bytes of a GetOrders answer ------------------------------------------------------------


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, bytes]:
    orders = draw(st.lists(EBAY.broken("OrderType") | EBAY.valid("OrderType"), max_size=2))
    body = response([_value(o) for o in orders])
    status = draw(st.sampled_from([200, 200, 200, 400, 500, 503]))
    return status, draw(
        st.just(body)
        | st.builds(lambda cut: body[: len(body) * cut // 100], st.integers(0, 99))
        | st.just(
            b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1>"
            + f"<p>{CANARY}00000000</p></body></html>".encode()
        )
        | st.builds(
            lambda noise: body.replace(b"<OrderArray>", b"<OrderArray>" + noise),
            st.binary(max_size=8),
        )
        # A character XML 1.0 cannot carry, inside a buyer's name.
        | st.sampled_from(["&#1;", "\x01", "&#xD800;", "\uffff"]).map(
            lambda bad: body.replace(
                b"</OrderArray>",
                f"<Order><OrderID>1</OrderID><ShippingAddress><Name>{CANARY}00000000{bad}</Name></ShippingAddress></Order></OrderArray>".encode(),
            )
        )
        | st.binary(max_size=64)
    )


def _check_error(error: EbayError) -> None:
    assert error.message
    assert CANARY not in str(error)
    assert "<" not in error.message, "an error quotes the body"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=answers())
def test_any_get_orders_answer_is_a_page_or_the_connectors_error(
    answer: tuple[int, bytes],
) -> None:
    status, body = answer
    try:
        page = parse_get_orders(status, body, account="acme-ebay")
    except EbayError as error:
        _check_error(error)
        return
    for result in map_orders(page.orders, CTX):
        if isinstance(result, QuarantineItem):
            assert CANARY not in result.field + result.reason
