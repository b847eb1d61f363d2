"""Synthetic orders as the Orders API returns them: v2026 per `includedData`, v0 per RDT.

The v2026 view keeps the datasets a request includes; the v0 view re-expresses the same order in
v0's shape, with PII only for the data elements a restricted data token grants.
"""

from __future__ import annotations

from typing import Any

from connectors.fakes.amazon_orders import MARKETPLACES, FakeOrder

__all__ = ["view_v0", "view_v0_items", "view_v2026"]

Json = dict[str, Any]

_V0_STATUS = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}

_ORDER_DATASETS = {
    "buyer": "BUYER",
    "recipient": "RECIPIENT",
    "proceeds": "PROCEEDS",
    "fulfillment": "FULFILLMENT",
    "packages": "PACKAGES",
    "tax": "TAX",
}
_ITEM_DATASETS = {"proceeds": "PROCEEDS", "fulfillment": "FULFILLMENT"}


def view_v2026(order: FakeOrder, included: frozenset[str]) -> Json:
    """The order as searchOrders/getOrder return it for these `includedData` values."""
    view = {
        key: value
        for key, value in order.full.items()
        if key not in _ORDER_DATASETS or _ORDER_DATASETS[key] in included
    }
    view["orderItems"] = [
        {
            key: value
            for key, value in item.items()
            if key not in _ITEM_DATASETS or _ITEM_DATASETS[key] in included
        }
        for item in order.full["orderItems"]
    ]
    return view


def view_v0(order: FakeOrder, *, buyer_info: bool, shipping_address: bool) -> Json:
    """The order as getOrders returns it; PII only for the data elements an RDT grants."""
    full = order.full
    fulfillment = full["fulfillment"]
    status = fulfillment["fulfillmentStatus"]
    items = full["orderItems"]
    shipped = sum(i["fulfillment"]["quantityFulfilled"] for i in items)
    ordered = sum(i["quantityOrdered"] for i in items)
    merchant = fulfillment["fulfilledBy"] == "MERCHANT"
    view: Json = {
        "AmazonOrderId": order.order_id,
        "SellerOrderId": full["orderAliases"][0]["aliasId"],
        "PurchaseDate": full["createdTime"],
        "LastUpdateDate": full["lastUpdatedTime"],
        "OrderStatus": _V0_STATUS[status],
        "FulfillmentChannel": "MFN" if merchant else "AFN",
        "SalesChannel": MARKETPLACES.get(order.marketplace_id, MARKETPLACES["A1PA6795UKMFR9"])[1],
        "ShipServiceLevel": "Std Dom",
        "OrderTotal": {
            "CurrencyCode": full["proceeds"]["grandTotal"]["currencyCode"],
            "Amount": full["proceeds"]["grandTotal"]["amount"],
        },
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": ordered - shipped,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": order.marketplace_id,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "IsBusinessOrder": "tax" in full,
        "IsPrime": "PRIME" in full.get("programs", []),
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
    }
    if merchant and status not in ("PENDING", "CANCELLED"):
        view["EarliestShipDate"] = fulfillment["shipByWindow"]["earliestDateTime"]
        view["LatestShipDate"] = fulfillment["shipByWindow"]["latestDateTime"]
        view["EarliestDeliveryDate"] = fulfillment["deliverByWindow"]["earliestDateTime"]
        view["LatestDeliveryDate"] = fulfillment["deliverByWindow"]["latestDateTime"]
    if order.easy_ship_status:
        view["EasyShipShipmentStatus"] = order.easy_ship_status
    address = full.get("recipient", {}).get("deliveryAddress")
    if address:
        view["ShippingAddress"] = _v0_address(address, restricted=shipping_address)
    if buyer_info and "buyer" in full:
        view["BuyerInfo"] = _v0_buyer(full)
    return view


def view_v0_items(order: FakeOrder, *, buyer_info: bool) -> list[Json]:
    items = []
    for item in order.full["orderItems"]:
        product = item["product"]
        unit = product["price"]["unitPrice"]
        breakdowns = {b["type"]: b["subtotal"] for b in item["proceeds"]["breakdowns"]}
        gift = item["fulfillment"].get("packing", {}).get("giftOption")
        v0_item: Json = {
            "ASIN": product["asin"],
            "SellerSKU": product["sellerSku"],
            "OrderItemId": item["orderItemId"],
            "Title": product["title"],
            "QuantityOrdered": item["quantityOrdered"],
            "QuantityShipped": item["fulfillment"]["quantityFulfilled"],
            "ProductInfo": {"NumberOfItems": "1"},
            "ItemPrice": _v0_money(breakdowns["ITEM"]),
            "ItemTax": _v0_money(breakdowns["TAX"]),
            "ShippingPrice": {"CurrencyCode": unit["currencyCode"], "Amount": "0.00"},
            "IsGift": "true" if gift else "false",
            "ConditionId": "New",
            "ConditionSubtypeId": "New",
            "IsTransparency": False,
            "SerialNumberRequired": False,
        }
        custom = product.get("customization")
        if buyer_info and (gift or custom):
            info: Json = {}
            if gift:
                info["GiftMessageText"] = gift["giftMessage"]
                info["GiftWrapLevel"] = gift["giftWrapLevel"]
            if custom:
                info["BuyerCustomizedInfo"] = {"CustomizedURL": custom["customizedUrl"]}
            v0_item["BuyerInfo"] = info
        items.append(v0_item)
    return items


def _v0_address(address: Json, *, restricted: bool) -> Json:
    # Without a restricted data token Amazon still shows where an order goes, not to whom.
    view = {
        "City": address["city"],
        "StateOrRegion": address["stateOrRegion"],
        "PostalCode": address["postalCode"],
        "CountryCode": address["countryCode"],
    }
    if not restricted:
        return view
    view["Name"] = address["name"]
    view["AddressLine1"] = address["addressLine1"]
    if "addressLine2" in address:
        view["AddressLine2"] = address["addressLine2"]
    if "companyName" in address:
        view["CompanyName"] = address["companyName"]
    if "phone" in address:
        view["Phone"] = address["phone"]
    view["AddressType"] = address["addressType"].capitalize()
    if "extendedFields" in address:
        fields = address["extendedFields"]
        view["ExtendedFields"] = {
            "StreetName": fields["streetName"],
            "StreetNumber": fields["streetNumber"],
            "Neighborhood": fields["neighborhood"],
        }
    return view


def _v0_buyer(full: Json) -> Json:
    buyer = full["buyer"]
    info: Json = {"BuyerEmail": buyer["buyerEmail"], "BuyerName": buyer["buyerName"]}
    if "buyerPurchaseOrderNumber" in buyer:
        info["PurchaseOrderNumber"] = buyer["buyerPurchaseOrderNumber"]
    registration = next(
        (r for r in full.get("tax", {}).get("taxRegistrations", []) if r["entityType"] == "BUYER"),
        None,
    )
    if registration:
        info["BuyerTaxInfo"] = {
            "CompanyLegalName": registration["legalName"],
            "TaxClassifications": [
                {"Name": "VATNumber", "Value": registration["taxRegistrationNumber"]}
            ],
        }
    return info


def _v0_money(money: Json) -> Json:
    return {"CurrencyCode": money["currencyCode"], "Amount": money["amount"]}
