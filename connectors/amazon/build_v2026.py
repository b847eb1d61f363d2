"""Orders API v2026-01-01 payload -> the canonical order's fields (a dict `Order` validates)."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.amazon import payload_v2026 as v26
from connectors.amazon.delivery import signal_v2026
from connectors.amazon.fields import (
    Json,
    MappingContext,
    channel,
    common_fields,
    compact,
    first_currency,
    lower,
    money,
    text,
)
from connectors.amazon.quarantine import PayloadError
from connectors.order import OrderStatus

__all__ = ["order_fields_v2026"]

_STATUS_V2026 = {
    "PENDING_AVAILABILITY": OrderStatus.PENDING,
    "PENDING": OrderStatus.PENDING,
    "UNSHIPPED": OrderStatus.UNSHIPPED,
    "PARTIALLY_SHIPPED": OrderStatus.PARTIALLY_SHIPPED,
    "SHIPPED": OrderStatus.SHIPPED,
    "CANCELLED": OrderStatus.CANCELLED,
    "UNFULFILLABLE": OrderStatus.UNFULFILLABLE,
}


def order_fields_v2026(payload: v26.AmazonOrder, ctx: MappingContext) -> Json:
    """Raise `PayloadError` for what validates against Amazon's schema but cannot be mapped."""
    return _order_v2026(payload, _status(payload), ctx)


def _status(payload: v26.AmazonOrder) -> OrderStatus:
    if payload.fulfillment is None:
        raise PayloadError("fulfillment", "required field is missing")
    status = _STATUS_V2026.get(payload.fulfillment.fulfillmentStatus)
    if status is None:
        raise PayloadError("fulfillment.fulfillmentStatus", "unknown value")
    return status


def _order_v2026(payload: v26.AmazonOrder, status: OrderStatus, ctx: MappingContext) -> Json:
    signal = signal_v2026(payload, observed_at=ctx.observed_at)
    total = payload.proceeds.grandTotal if payload.proceeds else None
    items = [_item_v2026(item) for item in payload.orderItems]
    currency = total.currencyCode if total else first_currency(items)
    address = payload.recipient.deliveryAddress if payload.recipient else None
    return {
        **common_fields(ctx, payload.orderId, status, signal),
        "site": payload.salesChannel.marketplaceId,
        "fulfillment_channel": channel(payload.fulfillment.fulfilledBy)
        if payload.fulfillment
        else None,
        "purchased_at": payload.createdTime,
        "updated_at": payload.lastUpdatedTime,
        "currency": currency,
        "order_total": money(total.amount, total.currencyCode) if total else None,
        "buyer": _buyer_v2026(payload),
        "shipping_address": _address_v2026(address) if address else None,
        "items": items,
    }


def _buyer_v2026(payload: v26.AmazonOrder) -> Json | None:
    buyer = payload.buyer
    registrations = [
        r
        for r in (payload.tax.taxRegistrations or [] if payload.tax else [])
        if r.entityType == "BUYER"
    ]
    tax_info: Json = {}
    for index, registration in enumerate(registrations):
        prefix = "" if index == 0 else f"{index + 1}."
        tax_info.update(_tax_registration(registration, prefix))
    return compact(
        {
            "name": text(buyer.buyerName) if buyer else None,
            "email": text(buyer.buyerEmail) if buyer else None,
            "company": text(buyer.buyerCompanyName) if buyer else None,
            "purchase_order_number": text(buyer.buyerPurchaseOrderNumber) if buyer else None,
            "tax_id": text(registrations[0].taxRegistrationNumber) if registrations else None,
            "tax_info": tax_info or None,
        }
    )


def _tax_registration(registration: v26.OrderTaxRegistration, prefix: str) -> Json:
    info: Json = {
        f"{prefix}registration_type": text(registration.taxRegistrationType),
        f"{prefix}registration_number": text(registration.taxRegistrationNumber),
        f"{prefix}legal_name": text(registration.legalName),
    }
    for attribute in registration.taxRegistrationAttributes or ():
        if attribute.key:
            info[f"{prefix}attribute.{attribute.key}"] = text(attribute.value)
    if registration.taxRegistrationAddress is not None:
        address = _address_v2026(registration.taxRegistrationAddress) or {}
        for key, value in address.items():
            if key == "extended" and isinstance(value, dict):
                info.update({f"{prefix}address.{k}": v for k, v in value.items()})
            elif value is not None:
                info[f"{prefix}address.{key}"] = value
    return {key: value for key, value in info.items() if value is not None}


def _address_v2026(address: v26.CustomerAddress) -> Json | None:
    fields = address.extendedFields
    extended = {
        "street_name": text(fields.streetName) if fields else None,
        "street_number": text(fields.streetNumber) if fields else None,
        "complement": text(fields.complement) if fields else None,
        "neighborhood": text(fields.neighborhood) if fields else None,
        "municipality": text(address.municipality),
    }
    return compact(
        {
            "name": text(address.name),
            "company": text(address.companyName),
            "line1": text(address.addressLine1),
            "line2": text(address.addressLine2),
            "line3": text(address.addressLine3),
            "city": text(address.city),
            "district": text(address.districtOrCounty),
            "state_or_region": text(address.stateOrRegion),
            "postal_code": text(address.postalCode),
            "country_code": text(address.countryCode),
            "phone": text(address.phone),
            "address_type": lower(address.addressType),
            "extended": compact(extended),
        }
    )


def _item_v2026(item: v26.OrderItem) -> Json:
    product = item.product
    breakdowns = {
        b.type: b.subtotal for b in (item.proceeds.breakdowns or [] if item.proceeds else [])
    }
    unit = product.price.unitPrice if product.price else None
    packing = item.fulfillment.packing if item.fulfillment else None
    gift = packing.giftOption if packing else None
    return {
        "marketplace_item_id": item.orderItemId,
        "sku": text(product.sellerSku),
        "product_id": text(product.asin),
        "title": text(product.title),
        "quantity": item.quantityOrdered,
        "quantity_shipped": item.fulfillment.quantityFulfilled if item.fulfillment else None,
        "unit_price": money(unit.amount, unit.currencyCode) if unit else None,
        "item_price": _breakdown(breakdowns, "ITEM"),
        "item_tax": _breakdown(breakdowns, "TAX"),
        "shipping_price": _breakdown(breakdowns, "SHIPPING"),
        "gift_message": text(gift.giftMessage) if gift else None,
        "customized_url": text(product.customization.customizedUrl)
        if product.customization
        else None,
    }


def _breakdown(breakdowns: Mapping[str, v26.Money], kind: str) -> Json | None:
    found = breakdowns.get(kind)
    return money(found.amount, found.currencyCode) if found else None
