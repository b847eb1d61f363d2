"""GetOrders XML for mapping tests: an order as a tree, rendered and parsed like a response."""

from __future__ import annotations

import copy
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from connectors.ebay.response import parse_get_orders

NS = "urn:ebay:apis:eBLBaseComponents"


class Amount:
    def __init__(self, value: str, currency: str | None = "EUR") -> None:
        self.value, self.currency = value, currency


def render(tag: str, value: Any) -> str:
    """Dicts are children in order, lists repeat the tag, `Amount`s carry a currencyID."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(render(tag, v) for v in value)
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(render(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, Amount):
        attrs = f" currencyID={quoteattr(value.currency)}" if value.currency else ""
        return f"<{tag}{attrs}>{escape(value.value)}</{tag}>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def response_xml(orders: list[dict[str, Any]], *, has_more: bool = False) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><GetOrdersResponse xmlns="{NS}">'
        "<Timestamp>2026-03-20T12:00:00.000Z</Timestamp><Ack>Success</Ack>"
        f"<PaginationResult><TotalNumberOfPages>1</TotalNumberOfPages>"
        f"<TotalNumberOfEntries>{len(orders)}</TotalNumberOfEntries></PaginationResult>"
        f"<HasMoreOrders>{'true' if has_more else 'false'}</HasMoreOrders>"
        "<OrderArray>" + "".join(render("Order", o) for o in orders) + "</OrderArray>"
        "<PageNumber>1</PageNumber></GetOrdersResponse>"
    ).encode()


def nodes(*orders: dict[str, Any]) -> list[Element]:
    return parse_get_orders(200, response_xml(list(orders)), account="acme-ebay").orders


def node(order: dict[str, Any]) -> Element:
    return nodes(order)[0]


BASE_ORDER: dict[str, Any] = {
    "OrderID": "12-34567-89012",
    "OrderStatus": "Completed",
    "CancelStatus": "NotApplicable",
    "CheckoutStatus": {
        "eBayPaymentStatus": "NoPaymentFailure",
        "LastModifiedTime": "2026-02-03T10:00:00.000Z",
        "Status": "Complete",
    },
    "CreatedTime": "2026-02-01T08:15:30.250Z",
    "ShippingAddress": {
        "Name": "Ada Adler",
        "Street1": "Lindenweg 7",
        "Street2": "Hinterhaus",
        "CityName": "Berlin",
        "StateOrProvince": "BE",
        "Country": "DE",
        "CountryName": "Germany",
        "Phone": "+49 30 55501234",
        "PostalCode": "10115",
    },
    "BuyerCheckoutMessage": "Bitte klingeln bei Adler",
    "BuyerTaxIdentifier": [{"ID": "DE123456789", "Type": "VATIN"}],
    "ShippingServiceSelected": {
        "ShippingService": "DE_DHLPaket",
        "ShippingServiceCost": Amount("4.50"),
        "ShippingPackageInfo": {
            "EstimatedDeliveryTimeMin": "2026-02-04T00:00:00.000Z",
            "EstimatedDeliveryTimeMax": "2026-02-06T18:00:00.000Z",
        },
    },
    "Subtotal": Amount("25.80"),
    "Total": Amount("30.30"),
    "TransactionArray": {
        "Transaction": [
            {
                "Buyer": {
                    "Email": "ada.adler@buyers.example.invalid",
                    "UserFirstName": "Ada",
                    "UserLastName": "Adler",
                },
                "Item": {"ItemID": "110012345678", "Title": "Blue mug", "SKU": "MUG"},
                "QuantityPurchased": "2",
                "TransactionID": "2000012345",
                "TransactionPrice": Amount("12.90"),
                "Taxes": {"TotalTaxAmount": Amount("4.12")},
                "ActualShippingCost": Amount("4.50"),
                "OrderLineItemID": "110012345678-2000012345",
                "Variation": {"SKU": "MUG-BLUE", "VariationTitle": "Blue mug [Colour: blue]"},
            }
        ]
    },
    "BuyerUserID": "ada_adler_77",
    "PaidTime": "2026-02-01T08:20:00.000Z",
    "EIASToken": "nY+sHZ2PrBmdj6wVnY+sEZ2PrA2dj6wFk4GlDJaEpQ2dj6x9nY+seQ==",
}


def order_with(**changes: Any) -> dict[str, Any]:
    """BASE_ORDER with top-level fields replaced (None removes one)."""
    order = copy.deepcopy(BASE_ORDER)
    for key, value in changes.items():
        if value is None:
            order.pop(key, None)
        else:
            order[key] = value
    return order
