"""The part of an Orders API v2026-01-01 order that ordervault reads, as Amazon names it.

Validating a payload against these models first means a bad payload is reported with Amazon's
own field path (`orderItems[0].quantityOrdered`). Unknown fields are ignored; every field
Amazon's schema marks optional is optional here.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from connectors.amazon.timestamps import Timestamp

__all__ = ["AmazonOrder", "CustomerAddress"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Money(_Payload):
    amount: Decimal
    currencyCode: str


class DateTimeRange(_Payload):
    earliestDateTime: Timestamp | None = None
    latestDateTime: Timestamp | None = None


class SalesChannel(_Payload):
    channelName: str
    marketplaceId: str | None = None


class Buyer(_Payload):
    buyerName: str | None = None
    buyerEmail: str | None = None
    buyerCompanyName: str | None = None
    buyerPurchaseOrderNumber: str | None = None


class AddressExtendedFields(_Payload):
    streetName: str | None = None
    streetNumber: str | None = None
    complement: str | None = None
    neighborhood: str | None = None


class CustomerAddress(_Payload):
    name: str | None = None
    companyName: str | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    addressLine3: str | None = None
    city: str | None = None
    districtOrCounty: str | None = None
    stateOrRegion: str | None = None
    municipality: str | None = None
    postalCode: str | None = None
    countryCode: str | None = None
    phone: str | None = None
    extendedFields: AddressExtendedFields | None = None
    addressType: str | None = None


class Recipient(_Payload):
    deliveryAddress: CustomerAddress | None = None


class OrderProceeds(_Payload):
    grandTotal: Money | None = None


class OrderFulfillment(_Payload):
    fulfillmentStatus: str
    fulfilledBy: str | None = None
    deliverByWindow: DateTimeRange | None = None


class ItemPrice(_Payload):
    unitPrice: Money | None = None


class ItemCustomization(_Payload):
    customizedUrl: str | None = None


class ItemProduct(_Payload):
    asin: str | None = None
    title: str | None = None
    sellerSku: str | None = None
    price: ItemPrice | None = None
    customization: ItemCustomization | None = None


class ItemProceedsBreakdown(_Payload):
    type: str
    subtotal: Money


class ItemProceeds(_Payload):
    proceedsTotal: Money | None = None
    breakdowns: list[ItemProceedsBreakdown] | None = None


class GiftOption(_Payload):
    giftMessage: str | None = None


class ItemPacking(_Payload):
    giftOption: GiftOption | None = None


class ItemShipping(_Payload):
    scheduledDeliveryWindow: DateTimeRange | None = None


class ItemFulfillment(_Payload):
    quantityFulfilled: int | None = None
    packing: ItemPacking | None = None
    shipping: ItemShipping | None = None


class OrderItem(_Payload):
    orderItemId: str
    quantityOrdered: int
    product: ItemProduct
    proceeds: ItemProceeds | None = None
    fulfillment: ItemFulfillment | None = None


class PackageStatus(_Payload):
    status: str


class OrderPackage(_Payload):
    packageReferenceId: str
    packageStatus: PackageStatus | None = None
    shipTime: Timestamp | None = None


class TaxRegistrationAttribute(_Payload):
    key: str | None = None
    value: str | None = None


class OrderTaxRegistration(_Payload):
    entityType: str | None = None
    legalName: str | None = None
    taxRegistrationType: str | None = None
    taxRegistrationNumber: str | None = None
    taxRegistrationAddress: CustomerAddress | None = None
    taxRegistrationAttributes: list[TaxRegistrationAttribute] | None = None


class OrderTax(_Payload):
    taxRegistrations: list[OrderTaxRegistration] | None = None


class AmazonOrder(_Payload):
    orderId: str
    createdTime: Timestamp
    lastUpdatedTime: Timestamp
    salesChannel: SalesChannel
    buyer: Buyer | None = None
    recipient: Recipient | None = None
    proceeds: OrderProceeds | None = None
    fulfillment: OrderFulfillment | None = None
    orderItems: list[OrderItem]
    packages: list[OrderPackage] | None = None
    tax: OrderTax | None = None
