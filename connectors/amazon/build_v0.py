"""Orders API v0 payload (getOrders + getOrderItems) -> the canonical order's fields."""

from __future__ import annotations

from connectors.amazon import payload_v0 as v0
from connectors.amazon.delivery import signal_v0
from connectors.amazon.fields import (
    Json,
    MappingContext,
    channel,
    common_fields,
    compact,
    lower,
    money,
    number,
    text,
)
from connectors.order import OrderStatus

__all__ = ["STATUS_V0", "order_fields_v0"]

STATUS_V0 = {
    "PendingAvailability": OrderStatus.PENDING,
    "Pending": OrderStatus.PENDING,
    "Unshipped": OrderStatus.UNSHIPPED,
    "InvoiceUnconfirmed": OrderStatus.UNSHIPPED,
    "PartiallyShipped": OrderStatus.PARTIALLY_SHIPPED,
    "Shipped": OrderStatus.SHIPPED,
    "Canceled": OrderStatus.CANCELLED,
    "Unfulfillable": OrderStatus.UNFULFILLABLE,
}


def order_fields_v0(
    payload: v0.V0Order, items: list[v0.V0OrderItem], status: OrderStatus, ctx: MappingContext
) -> Json:
    signal = signal_v0(payload, observed_at=ctx.observed_at)
    total = _money_v0(payload.OrderTotal)
    return {
        **common_fields(ctx, payload.AmazonOrderId, status, signal),
        "site": payload.MarketplaceId,
        "fulfillment_channel": channel(payload.FulfillmentChannel),
        "purchased_at": payload.PurchaseDate,
        "updated_at": payload.LastUpdateDate,
        "currency": total["currency"] if total else None,
        "order_total": total,
        "buyer": _buyer_v0(payload),
        "shipping_address": _address_v0(payload.ShippingAddress)
        if payload.ShippingAddress
        else None,
        "items": [_item_v0(item) for item in items],
    }


def _buyer_v0(payload: v0.V0Order) -> Json | None:
    info, tax = payload.BuyerInfo, payload.BuyerTaxInformation
    tax_info = info.BuyerTaxInfo if info else None
    details: Json = {
        "taxing_region": text(tax_info.TaxingRegion) if tax_info else None,
        "tax_office": text(tax.BuyerTaxOffice) if tax else None,
        "business_address": text(tax.BuyerBusinessAddress) if tax else None,
    }
    for classification in (tax_info.TaxClassifications or []) if tax_info else []:
        if classification.Name:
            details[f"classification.{classification.Name}"] = text(classification.Value)
    company = (text(tax_info.CompanyLegalName) if tax_info else None) or (
        text(tax.BuyerLegalCompanyName) if tax else None
    )
    return compact(
        {
            "name": text(info.BuyerName) if info else None,
            "email": text(info.BuyerEmail) if info else None,
            "company": company,
            "purchase_order_number": text(info.PurchaseOrderNumber) if info else None,
            "tax_id": text(tax.BuyerTaxRegistrationId) if tax else None,
            "tax_info": compact(details),
        }
    )


def _address_v0(address: v0.Address) -> Json | None:
    fields = address.ExtendedFields
    geo = fields.GeoCoordinates if fields else None
    district = text(address.District)
    county = text(address.County)
    extended = {
        "street_name": text(fields.StreetName) if fields else None,
        "street_number": text(fields.StreetNumber) if fields else None,
        "complement": text(fields.Complement) if fields else None,
        "neighborhood": text(fields.Neighborhood) if fields else None,
        "municipality": text(address.Municipality),
        # A county beside a district would otherwise be lost.
        "county": county if district and county else None,
        "latitude": number(geo.Latitude) if geo else None,
        "longitude": number(geo.Longitude) if geo else None,
    }
    return compact(
        {
            "name": text(address.Name),
            "company": text(address.CompanyName),
            "line1": text(address.AddressLine1),
            "line2": text(address.AddressLine2),
            "line3": text(address.AddressLine3),
            "city": text(address.City),
            "district": district or county,
            "state_or_region": text(address.StateOrRegion),
            "postal_code": text(address.PostalCode),
            "country_code": text(address.CountryCode),
            "phone": text(address.Phone),
            "address_type": lower(address.AddressType),
            "extended": compact(extended),
        }
    )


def _item_v0(item: v0.V0OrderItem) -> Json:
    buyer = item.BuyerInfo
    custom = buyer.BuyerCustomizedInfo if buyer else None
    return {
        "marketplace_item_id": item.OrderItemId,
        "sku": text(item.SellerSKU),
        "product_id": text(item.ASIN),
        "title": text(item.Title),
        "quantity": item.QuantityOrdered,
        "quantity_shipped": item.QuantityShipped,
        "item_price": _money_v0(item.ItemPrice),
        "item_tax": _money_v0(item.ItemTax),
        "shipping_price": _money_v0(item.ShippingPrice),
        "gift_message": text(buyer.GiftMessageText) if buyer else None,
        "customized_url": text(custom.CustomizedURL) if custom else None,
    }


def _money_v0(value: v0.Money | None) -> Json | None:
    # v0 marks both parts optional; a price without its currency cannot be used.
    if value is None or value.Amount is None or value.CurrencyCode is None:
        return None
    return money(value.Amount, value.CurrencyCode)
