"""The canonical order every connector produces, whatever the marketplace.

Every field is classified in place (see `classify`). Timestamps are timezone-aware UTC;
naive datetimes are refused, since a marketplace timestamp without an offset cannot be placed.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from connectors.classify import CLEAR, NESTED, PII, Classified

#: Bumped whenever the PII part's shape changes; sealed into the ciphertext's associated data.
PII_SCHEMA_VERSION = 1


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Year 1 with a positive offset (or 9999 with a negative one) has no UTC time.
        # pydantic reports only ValueError as a validation error naming the field; an
        # OverflowError would escape validation and fail the whole page instead of one order.
        raise ValueError("timestamp outside the supported range") from None


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, Field(max_length=4000)]


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    UNSHIPPED = "unshipped"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    UNFULFILLABLE = "unfulfillable"


class Marketplace(enum.StrEnum):
    AMAZON = "amazon"
    EBAY = "ebay"


class Money(Classified):
    amount: Annotated[Decimal, CLEAR]
    currency: Annotated[str, CLEAR, Field(pattern=r"^[A-Z]{3}$")]


class Address(Classified):
    name: Annotated[Text | None, PII] = None
    company: Annotated[Text | None, PII] = None
    line1: Annotated[Text | None, PII] = None
    line2: Annotated[Text | None, PII] = None
    line3: Annotated[Text | None, PII] = None
    city: Annotated[Text | None, PII] = None
    district: Annotated[Text | None, PII] = None
    state_or_region: Annotated[Text | None, PII] = None
    postal_code: Annotated[Text | None, PII] = None
    # A country alone identifies nobody, and reports and routing need it without decrypting.
    country_code: Annotated[str | None, CLEAR, Field(pattern=r"^[A-Z]{2}$")] = None
    phone: Annotated[Text | None, PII] = None
    address_type: Annotated[str | None, CLEAR] = None
    # Marketplace-specific extended fields (street name, house number, complement, ...).
    extended: Annotated[dict[str, Text] | None, PII] = None


class Buyer(Classified):
    name: Annotated[Text | None, PII] = None
    email: Annotated[Text | None, PII] = None
    phone: Annotated[Text | None, PII] = None
    company: Annotated[Text | None, PII] = None
    # Amazon's buyer id, or eBay's immutable user id (preferred over the username).
    marketplace_buyer_id: Annotated[Text | None, PII] = None
    username: Annotated[Text | None, PII] = None
    eias_token: Annotated[Text | None, PII] = None
    purchase_order_number: Annotated[Text | None, PII] = None
    tax_id: Annotated[Text | None, PII] = None
    tax_info: Annotated[dict[str, Text] | None, PII] = None


class OrderItem(Classified):
    marketplace_item_id: Annotated[str, CLEAR]
    sku: Annotated[str | None, CLEAR] = None
    product_id: Annotated[str | None, CLEAR] = None  # ASIN, eBay item id, ...
    title: Annotated[Text | None, CLEAR] = None
    quantity: Annotated[int, CLEAR, Field(ge=0)]
    quantity_shipped: Annotated[int | None, CLEAR, Field(ge=0)] = None
    unit_price: Annotated[Money | None, CLEAR] = None
    item_price: Annotated[Money | None, CLEAR] = None
    item_tax: Annotated[Money | None, CLEAR] = None
    shipping_price: Annotated[Money | None, CLEAR] = None
    gift_message: Annotated[Text | None, PII] = None
    # Amazon Custom: URLs of the buyer's personalisation files.
    customized_url: Annotated[Text | None, PII] = None


class Order(Classified):
    client_id: Annotated[str, CLEAR, Field(min_length=1, max_length=64)]
    marketplace: Annotated[Marketplace, CLEAR]
    account: Annotated[str, CLEAR, Field(min_length=1, max_length=64)]
    marketplace_order_id: Annotated[str, CLEAR, Field(min_length=1, max_length=64)]
    # Amazon marketplace id (e.g. A1PA6795UKMFR9) or eBay site id.
    site: Annotated[str | None, CLEAR] = None
    status: Annotated[OrderStatus, CLEAR]
    fulfillment_channel: Annotated[str | None, CLEAR] = None
    purchased_at: Annotated[UtcDatetime, CLEAR]
    updated_at: Annotated[UtcDatetime, CLEAR]
    shipped_at: Annotated[UtcDatetime | None, CLEAR] = None
    delivered_at: Annotated[UtcDatetime | None, CLEAR] = None
    # What told us it was delivered: "package_status", "easy_ship", "actual_delivery_time".
    delivery_source: Annotated[str | None, CLEAR] = None
    cancelled_at: Annotated[UtcDatetime | None, CLEAR] = None
    latest_delivery_by: Annotated[UtcDatetime | None, CLEAR] = None
    currency: Annotated[str | None, CLEAR, Field(pattern=r"^[A-Z]{3}$")] = None
    order_total: Annotated[Money | None, CLEAR] = None
    buyer: Annotated[Buyer | None, NESTED] = None
    shipping_address: Annotated[Address | None, NESTED] = None
    buyer_message: Annotated[Text | None, PII] = None
    items: Annotated[tuple[OrderItem, ...], NESTED] = ()

    @field_validator("items", mode="before")
    @classmethod
    def _items_as_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity storage is idempotent on."""
        return (self.client_id, self.marketplace.value, self.marketplace_order_id)

    def delivery_or_cancel_day(self) -> date | None:
        """The day the retention clock starts, once the order is done."""
        done = self.delivered_at or self.cancelled_at
        return done.date() if done else None


MarketplaceName = Literal["amazon", "ebay"]
