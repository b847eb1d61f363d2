"""Buyers a test chooses, planted into the fake marketplaces beside their synthetic orders.

A leak test gives every PII field a unique marker (a canary) and then searches everything the
product wrote for it. The fakes add one order per planted buyer after their synthetic ones
(the synthetic orders stay exactly what the seed gives), drawn like any other and then given
the planted values, in every field the marketplace has for them:

    canary = PlantedBuyer(name="Erika Cnry1", email="cnry2@example.invalid", ...)
    FakeSpApi([SellerSpec(orders=12, planted=(canary,))])
    FakeEbayTrading([EbayAccountSpec(token=TOKEN, planted=(canary,))])

`malformed=True` breaks the order so that the connector must quarantine it, payload and
canaries included (Amazon: a three-letter country code; eBay: a time without its zone or an
amount without its currency, as the fake's own malformed orders).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlantedBuyer"]


@dataclass(frozen=True)
class PlantedBuyer:
    name: str  # buyer and recipient name (eBay: first word first name, the rest last name)
    email: str
    phone: str  # the delivery address's phone
    address_line1: str
    address_line2: str | None = None
    company: str | None = None  # buyer and address company
    gift_message: str | None = None  # on the order's first item (eBay: its first line)
    buyer_message: str | None = None  # eBay's BuyerCheckoutMessage; Amazon orders have none
    username: str | None = None  # eBay's BuyerUserID; Amazon has no user name
    tax_id: str | None = None  # Amazon: the buyer's tax registration; eBay: BuyerTaxIdentifier
    purchase_order: str | None = None  # Amazon business orders' PO number
    custom_url: str | None = None  # Amazon Custom: the first item's customisation URL
    malformed: bool = False

    def __repr__(self) -> str:  # the values are the point of a canary: keep them out of output
        return f"PlantedBuyer(<planted values>, malformed={self.malformed})"

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def last_name(self) -> str:
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else parts[0]
