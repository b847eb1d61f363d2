"""Deterministic synthetic orders with generated buyers (DPP 2.5: no production PII in testing).

The same seed gives the same orders, so the demo, tests and benchmarks are repeatable. Emails use
the reserved `.invalid` top-level domain and phone numbers a fictional range.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from connectors.order import Address, Buyer, Marketplace, Money, Order, OrderItem, OrderStatus

_FIRST = ("Ada", "Bruno", "Chloe", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas")
_LAST = ("Adler", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haas", "Ito")
_STREETS = ("Lindenweg", "Rue des Lilas", "Via Roma", "Calle Mayor", "Kastanienallee")
_CITIES = (("Berlin", "10115", "DE"), ("Lyon", "69001", "FR"), ("Milano", "20121", "IT"))
_PRODUCTS = (("MUG-BLUE", "Blue mug", "12.90"), ("TEE-M", "T-shirt, size M", "19.50"))


def synthetic_orders(
    *,
    client_id: str,
    account: str,
    marketplace: Marketplace,
    count: int,
    start: datetime,
    seed: int = 0,
    spread_days: int = 30,
) -> Iterator[Order]:
    """`count` orders purchased between `start` and `start + spread_days`, buyers all made up."""
    rng = random.Random(f"{seed}:{client_id}:{account}")  # noqa: S311 (not for secrets)
    for n in range(count):
        purchased = start + timedelta(seconds=rng.randrange(spread_days * 86400))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, postal, country = rng.choice(_CITIES)
        sku, title, price = rng.choice(_PRODUCTS)
        quantity = rng.randint(1, 3)
        total = Decimal(price) * quantity
        currency = "EUR"
        status = rng.choice(
            (OrderStatus.UNSHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PENDING)
        )
        shipped = purchased + timedelta(days=1) if status != OrderStatus.UNSHIPPED else None
        delivered = purchased + timedelta(days=3) if status == OrderStatus.DELIVERED else None
        if status == OrderStatus.PENDING:
            shipped = None
        if marketplace is Marketplace.AMAZON:  # 3-7-7 digits, like 028-1234567-1234567
            parts = (
                rng.randrange(100, 999),
                rng.randrange(10**6, 10**7),
                rng.randrange(10**6, 10**7),
            )
        else:  # eBay order ids: 2-5-5 digits
            parts = (
                rng.randrange(10, 99),
                rng.randrange(10**4, 10**5),
                rng.randrange(10**4, 10**5),
            )
        order_id = "-".join(str(p) for p in parts)
        yield Order(
            client_id=client_id,
            marketplace=marketplace,
            account=account,
            marketplace_order_id=order_id,
            site="A1PA6795UKMFR9" if marketplace is Marketplace.AMAZON else "3",
            status=status,
            purchased_at=purchased,
            updated_at=purchased + timedelta(hours=rng.randint(1, 48)),
            shipped_at=shipped,
            delivered_at=delivered,
            delivery_source="package_status" if delivered else None,
            latest_delivery_by=purchased + timedelta(days=5),
            currency=currency,
            order_total=Money(amount=total, currency=currency),
            buyer=Buyer(
                name=f"{first} {last}",
                email=f"{first}.{last}.{n}@buyers.example.invalid".lower(),
                marketplace_buyer_id=f"SYNTH{rng.randrange(10**8):08d}",
            ),
            shipping_address=Address(
                name=f"{first} {last}",
                line1=f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
                city=city,
                postal_code=postal,
                country_code=country,
                phone=f"+49 30 5550{rng.randrange(10**4):04d}",
            ),
            items=(
                OrderItem(
                    marketplace_item_id=f"{rng.randrange(10**13, 10**14)}",
                    sku=sku,
                    title=title,
                    quantity=quantity,
                    item_price=Money(amount=total, currency=currency),
                ),
            ),
        )
