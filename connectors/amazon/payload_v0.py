"""The part of an Orders API v0 order (getOrders) and its items (getOrderItems) ordervault reads.

Field names are Amazon's, so a validation error names Amazon's field. Unknown fields are
ignored; optional in Amazon's schema means optional here.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from connectors.amazon.timestamps import Timestamp

__all__ = ["V0Order", "V0OrderItem"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Money(_Payload):
    CurrencyCode: str | None = None
    Amount: Decimal | None = None


class TaxClassification(_Payload):
    Name: str | None = None
    Value: str | None = None


class BuyerTaxInfoPart(_Payload):
    CompanyLegalName: str | None = None
    TaxingRegion: str | None = None
    TaxClassifications: list[TaxClassification] | None = None


class BuyerInfoPart(_Payload):
    BuyerEmail: str | None = None
    BuyerName: str | None = None
    BuyerTaxInfo: BuyerTaxInfoPart | None = None
    PurchaseOrderNumber: str | None = None


class BuyerTaxInformationPart(_Payload):
    BuyerLegalCompanyName: str | None = None
    BuyerBusinessAddress: str | None = None
    BuyerTaxRegistrationId: str | None = None
    BuyerTaxOffice: str | None = None


class GeoCoordinatesPart(_Payload):
    Latitude: float | None = None
    Longitude: float | None = None


class AddressExtendedFields(_Payload):
    StreetName: str | None = None
    StreetNumber: str | None = None
    Complement: str | None = None
    Neighborhood: str | None = None
    GeoCoordinates: GeoCoordinatesPart | None = None


class Address(_Payload):
    Name: str | None = None
    CompanyName: str | None = None
    AddressLine1: str | None = None
    AddressLine2: str | None = None
    AddressLine3: str | None = None
    City: str | None = None
    County: str | None = None
    District: str | None = None
    StateOrRegion: str | None = None
    Municipality: str | None = None
    PostalCode: str | None = None
    CountryCode: str | None = None
    Phone: str | None = None
    ExtendedFields: AddressExtendedFields | None = None
    AddressType: str | None = None


class V0Order(_Payload):
    AmazonOrderId: str
    PurchaseDate: Timestamp
    LastUpdateDate: Timestamp
    OrderStatus: str
    FulfillmentChannel: str | None = None
    MarketplaceId: str | None = None
    OrderTotal: Money | None = None
    EasyShipShipmentStatus: str | None = None
    LatestDeliveryDate: Timestamp | None = None
    ShippingAddress: Address | None = None
    BuyerInfo: BuyerInfoPart | None = None
    BuyerTaxInformation: BuyerTaxInformationPart | None = None


class BuyerCustomizedInfoDetail(_Payload):
    CustomizedURL: str | None = None


class ItemBuyerInfo(_Payload):
    BuyerCustomizedInfo: BuyerCustomizedInfoDetail | None = None
    GiftMessageText: str | None = None


class V0OrderItem(_Payload):
    ASIN: str
    OrderItemId: str
    SellerSKU: str | None = None
    Title: str | None = None
    QuantityOrdered: int
    QuantityShipped: int | None = None
    ItemPrice: Money | None = None
    ShippingPrice: Money | None = None
    ItemTax: Money | None = None
    BuyerInfo: ItemBuyerInfo | None = None
