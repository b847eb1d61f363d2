"""Deterministic synthetic Amazon orders.

Each order is generated once as a complete v2026-01-01 payload (every dataset); `amazon_views`
shows it as either Orders API version returns it. The same seed gives the same orders.
Buyers are made up (DPP 2.5): emails under the reserved `.invalid` domain, phone numbers in
fictional ranges. The mix covers what the mapping must handle: FBA orders without an address,
phones gone after delivery, business buyers with tax registrations, gift messages, custom URLs,
Brazilian extended address fields, partial shipments, cancellations, pending orders.
Planted buyers (`connectors.fakes.planted`) get one merchant-fulfilled order each, after those.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.fakes.planted import PlantedBuyer

__all__ = ["MARKETPLACES", "FakeOrder", "synthetic_orders"]

Json = dict[str, Any]

# marketplace id -> (name, v0 sales channel, currency, country, [(city, postal code, region)])
MARKETPLACES: dict[str, tuple[str, str, str, str, list[tuple[str, str, str]]]] = {
    "A1PA6795UKMFR9": (
        "Amazon.de",
        "Amazon.de",
        "EUR",
        "DE",
        [("Berlin", "10115", "Berlin"), ("Hamburg", "20095", "Hamburg")],
    ),
    "A13V1IB3VIYZZH": ("Amazon.fr", "Amazon.fr", "EUR", "FR", [("Lyon", "69001", "Rhone")]),
    "A1F83G8C2ARO7P": (
        "Amazon.co.uk",
        "Amazon.co.uk",
        "GBP",
        "GB",
        [("Leeds", "LS1 4AP", "England")],
    ),
    "ATVPDKIKX0DER": ("Amazon.com", "Amazon.com", "USD", "US", [("Seattle", "98101", "WA")]),
    "A2Q3Y263D00KWC": (
        "Amazon.com.br",
        "Amazon.com.br",
        "BRL",
        "BR",
        [("Sao Paulo", "01310-100", "SP")],
    ),
}
_FIRST = ("Ada", "Bruno", "Chloe", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas")
_LAST = ("Adler", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haas", "Ito")
_STREETS = ("Lindenweg", "Rue des Lilas", "Via Roma", "Calle Mayor", "Rua das Flores")
_PRODUCTS = (
    ("B0SYNTH0001", "MUG-BLUE", "Blue mug, 350 ml", Decimal("12.90")),
    ("B0SYNTH0002", "TEE-M", "T-shirt, size M", Decimal("19.50")),
    ("B0SYNTH0003", "POSTER-A2", "Poster A2, matte", Decimal("24.00")),
    ("B0SYNTH0004", "CAP-RED", "Cap, red", Decimal("15.00")),
)
_STATUSES = (
    ("PENDING", 6),
    ("UNSHIPPED", 18),
    ("PARTIALLY_SHIPPED", 4),
    ("SHIPPED", 62),
    ("CANCELLED", 8),
    ("UNFULFILLABLE", 2),
)


@dataclass(frozen=True)
class FakeOrder:
    order_id: str
    marketplace_id: str
    created_at: datetime
    updated_at: datetime
    full: Json  # the v2026 payload with every dataset
    easy_ship_status: str | None  # v0's only delivery signal, for Easy Ship orders


def synthetic_orders(
    *,
    count: int,
    seed: int,
    marketplace_ids: tuple[str, ...],
    start: datetime,
    spread_days: int = 30,
    planted: tuple[PlantedBuyer, ...] = (),
) -> list[FakeOrder]:
    rng = random.Random(f"spapi:{seed}:{','.join(marketplace_ids)}")  # noqa: S311 (not secret)
    seen: set[str] = set()
    orders = []

    def draw(n: int) -> FakeOrder:
        order_id = _order_id(rng)
        while order_id in seen:
            order_id = _order_id(rng)
        seen.add(order_id)
        return _order(rng, n, order_id, rng.choice(marketplace_ids), start, spread_days)

    for n in range(count):
        orders.append(draw(n))
    for offset, buyer in enumerate(planted):
        # Drawn until the order has a buyer and an address (not pending, not FBA) to plant into.
        order = draw(count + offset)
        while "recipient" not in order.full:
            seen.discard(order.order_id)
            order = draw(count + offset)
        orders.append(_plant(order, buyer))
    return orders


def _plant(order: FakeOrder, planted: PlantedBuyer) -> FakeOrder:
    full = order.full
    buyer: Json = {"buyerName": planted.name, "buyerEmail": planted.email}
    if planted.company:
        buyer["buyerCompanyName"] = planted.company
    if planted.purchase_order:
        buyer["buyerPurchaseOrderNumber"] = planted.purchase_order
    full["buyer"] = buyer
    address = full["recipient"]["deliveryAddress"]
    address.update(name=planted.name, addressLine1=planted.address_line1, phone=planted.phone)
    address.pop("addressLine2", None)
    address.pop("companyName", None)
    if planted.address_line2:
        address["addressLine2"] = planted.address_line2
    if planted.company:
        address["companyName"] = planted.company
    if planted.malformed:
        address["countryCode"] = "DEU"  # ISO alpha-3: valid for Amazon's schema, not for ours
    if planted.gift_message:
        full["orderItems"][0]["fulfillment"]["packing"] = {
            "giftOption": {"giftMessage": planted.gift_message, "giftWrapLevel": "STANDARD"}
        }
    if planted.custom_url:
        full["orderItems"][0]["product"]["customization"] = {"customizedUrl": planted.custom_url}
    if planted.tax_id:
        full["tax"] = {
            "taxRegistrations": [
                {
                    "entityType": "BUYER",
                    "legalName": planted.company or planted.name,
                    "taxRegistrationType": "VAT",
                    "taxRegistrationNumber": planted.tax_id,
                    "taxRegistrationAttributes": [{"key": "CONTACT", "value": planted.name}],
                }
            ]
        }
    else:
        full.pop("tax", None)  # a drawn registration would name the drawn buyer
    return order


def _order_id(rng: random.Random) -> str:
    return f"{rng.randrange(200, 999)}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}"


def _order(
    rng: random.Random, n: int, order_id: str, marketplace_id: str, start: datetime, spread: int
) -> FakeOrder:
    name, _channel, currency, country, cities = MARKETPLACES.get(
        marketplace_id, MARKETPLACES["A1PA6795UKMFR9"]
    )
    created = start + timedelta(seconds=rng.randrange(spread * 86_400))
    status = rng.choices([s for s, _ in _STATUSES], weights=[w for _, w in _STATUSES])[0]
    by_amazon = rng.random() < 0.25
    business = rng.random() < 0.15
    delivered = status == "SHIPPED" and rng.random() < 0.6
    shipped_at = created + timedelta(hours=rng.randint(4, 48))
    delivered_at = shipped_at + timedelta(days=rng.randint(1, 4))
    cancelled_at = created + timedelta(hours=rng.randint(1, 24))
    events = [created + timedelta(minutes=10)]
    if status in ("SHIPPED", "PARTIALLY_SHIPPED"):
        events.append(shipped_at)
    if delivered:
        events.append(delivered_at)
    if status == "CANCELLED":
        events.append(cancelled_at)
    updated = max(events)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, postal, region = rng.choice(cities)
    items = _items(rng, n, currency, status)
    order: Json = {
        "orderId": order_id,
        "orderAliases": [{"aliasId": f"SO-{_alias_number(n)}", "aliasType": "SELLER_ORDER_ID"}],
        "createdTime": _iso(created),
        "lastUpdatedTime": _iso(updated),
        "programs": ["PRIME"] if rng.random() < 0.3 else [],
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": marketplace_id,
            "marketplaceName": name,
        },
        "proceeds": {
            "grandTotal": _money(sum((_line_total(i) for i in items), Decimal(0)), currency)
        },
        "fulfillment": {
            "fulfillmentStatus": status,
            "fulfilledBy": "AMAZON" if by_amazon else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {
                "earliestDateTime": _iso(created),
                "latestDateTime": _iso(created + timedelta(days=2)),
            },
            "deliverByWindow": {
                "earliestDateTime": _iso(created + timedelta(days=3)),
                "latestDateTime": _iso(created + timedelta(days=rng.randint(5, 8))),
            },
        },
        "orderItems": [item for item, _ in items],
    }
    if status != "PENDING":
        order["buyer"] = _buyer(first, last, n, business, rng)
        if not by_amazon:  # FBA orders carry no delivery address for the seller
            order["recipient"] = {
                "deliveryAddress": _address(
                    rng, first, last, city, postal, region, country, business, delivered
                )
            }
    if business and status != "PENDING":
        order["tax"] = _tax(first, last, country, rng)
    if status in ("SHIPPED", "PARTIALLY_SHIPPED"):
        order["packages"] = _packages(rng, n, items, status, delivered, shipped_at)
    easy_ship = None
    if not by_amazon and rng.random() < 0.3:
        easy_ship = {
            "PENDING": "PendingSchedule",
            "UNSHIPPED": "PendingPickUp",
            "PARTIALLY_SHIPPED": "PickedUp",
            "SHIPPED": "Delivered" if delivered else "OutForDelivery",
            "CANCELLED": "LabelCanceled",
            "UNFULFILLABLE": "Undeliverable",
        }[status]
    return FakeOrder(order_id, marketplace_id, created, updated, order, easy_ship)


def _alias_number(n: int) -> str:
    return f"{n:07d}"


def _items(rng: random.Random, n: int, currency: str, status: str) -> list[tuple[Json, Json]]:
    chosen = rng.sample(_PRODUCTS, k=rng.randint(1, 3))
    items = []
    for index, (asin, sku, title, price) in enumerate(chosen):
        quantity = rng.randint(1, 3)
        shipped = status == "SHIPPED" or (status == "PARTIALLY_SHIPPED" and index == 0)
        tax = (price * quantity * Decimal("0.19")).quantize(Decimal("0.01"))
        product: Json = {
            "asin": asin,
            "title": title,
            "sellerSku": sku,
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            "price": {"unitPrice": _money(price, currency)},
        }
        if rng.random() < 0.05:
            product["customization"] = {
                "customizedUrl": f"https://custom.amazon.invalid/c/{rng.getrandbits(64):016x}"
            }
        fulfillment: Json = {
            "quantityFulfilled": quantity if shipped else 0,
            "quantityUnfulfilled": 0 if shipped else quantity,
        }
        if rng.random() < 0.1:
            fulfillment["packing"] = {
                "giftOption": {"giftMessage": "Happy birthday!", "giftWrapLevel": "STANDARD"}
            }
        item = {
            "orderItemId": f"{n:07d}{index:02d}{rng.randrange(10**4, 10**5)}",
            "quantityOrdered": quantity,
            "product": product,
            "proceeds": {
                "proceedsTotal": _money(price * quantity + tax, currency),
                "breakdowns": [
                    {"type": "ITEM", "subtotal": _money(price * quantity, currency)},
                    {"type": "TAX", "subtotal": _money(tax, currency)},
                ],
            },
            "fulfillment": fulfillment,
        }
        items.append((item, {"price": price, "quantity": quantity, "tax": tax}))
    return items


def _line_total(item: tuple[Json, Json]) -> Decimal:
    facts = item[1]
    return Decimal(facts["price"]) * int(facts["quantity"]) + Decimal(facts["tax"])


def _buyer(first: str, last: str, n: int, business: bool, rng: random.Random) -> Json:
    buyer: Json = {
        "buyerName": f"{first} {last}",
        "buyerEmail": f"{first}.{last}.{n}@marketplace.amazon.invalid".lower(),
    }
    if business:
        buyer["buyerCompanyName"] = f"{last} Handels GmbH"
        buyer["buyerPurchaseOrderNumber"] = f"PO-{rng.randrange(10**5, 10**6)}"
    return buyer


def _address(
    rng: random.Random,
    first: str,
    last: str,
    city: str,
    postal: str,
    region: str,
    country: str,
    business: bool,
    delivered: bool,
) -> Json:
    street, number = rng.choice(_STREETS), str(rng.randint(1, 120))
    address: Json = {
        "name": f"{first} {last}",
        "addressLine1": f"{street} {number}",
        "city": city,
        "stateOrRegion": region,
        "postalCode": postal,
        "countryCode": country,
        "addressType": "COMMERCIAL" if business else "RESIDENTIAL",
    }
    if rng.random() < 0.3:
        address["addressLine2"] = f"Apt {rng.randint(1, 40)}"
    if business:
        address["companyName"] = f"{last} Handels GmbH"
    if not delivered:  # Amazon suppresses the phone number once the order is delivered
        address["phone"] = f"+49 30 5550{rng.randrange(10**4):04d}"
    if country == "BR":
        address["extendedFields"] = {
            "streetName": street,
            "streetNumber": number,
            "neighborhood": "Bela Vista",
        }
    return address


def _tax(first: str, last: str, country: str, rng: random.Random) -> Json:
    return {
        "taxRegistrations": [
            {
                "entityType": "BUYER",
                "legalName": f"{last} Handels GmbH",
                "taxRegistrationType": "VAT",
                "taxRegistrationNumber": f"{country}{rng.randrange(10**8, 10**9)}",
                "taxRegistrationAttributes": [{"key": "CONTACT", "value": f"{first} {last}"}],
            },
            {"entityType": "MARKETPLACE", "taxRegistrationType": "VAT"},
        ]
    }


def _packages(
    rng: random.Random,
    n: int,
    items: list[tuple[Json, Json]],
    status: str,
    delivered: bool,
    shipped_at: datetime,
) -> list[Json]:
    shipped_items = items if status == "SHIPPED" else items[:1]
    package_status = "DELIVERED" if delivered else "IN_TRANSIT"
    return [
        {
            "packageReferenceId": f"PKG-{n:07d}",
            "createdTime": _iso(shipped_at - timedelta(hours=2)),
            "packageStatus": {"status": package_status, "detailedStatus": package_status},
            "carrier": "DHL",
            "shipTime": _iso(shipped_at),
            "shippingService": "Standard",
            "trackingNumber": f"{rng.randrange(10**11, 10**12)}",
            "shipFromAddress": {
                "name": "Synthetic Seller Warehouse",
                "addressLine1": "Industriestrasse 1",
                "city": "Leipzig",
                "postalCode": "04103",
                "countryCode": "DE",
            },
            "packageItems": [
                {"orderItemId": item["orderItemId"], "quantity": item["quantityOrdered"]}
                for item, _ in shipped_items
            ],
        }
    ]


def _money(amount: Decimal, currency: str) -> Json:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
