"""Factories and hypothesis strategies for canonical orders (synthetic buyers only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from connectors.order import (
    Address,
    Buyer,
    Marketplace,
    Money,
    Order,
    OrderItem,
    OrderStatus,
)

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)
_opt_text = st.none() | _text
_when = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
_money = st.builds(
    Money,
    amount=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
    currency=st.sampled_from(["EUR", "USD", "GBP", "JPY"]),
)

addresses = st.builds(
    Address,
    name=_opt_text,
    company=_opt_text,
    line1=_opt_text,
    line2=_opt_text,
    city=_opt_text,
    postal_code=_opt_text,
    country_code=st.none() | st.sampled_from(["DE", "FR", "US", "GB"]),
    phone=_opt_text,
    extended=st.none() | st.dictionaries(st.text(min_size=1, max_size=10), _text, max_size=3),
)
buyers = st.builds(
    Buyer,
    name=_opt_text,
    email=_opt_text,
    marketplace_buyer_id=_opt_text,
    tax_info=st.none() | st.dictionaries(st.text(min_size=1, max_size=10), _text, max_size=2),
)
items = st.builds(
    OrderItem,
    marketplace_item_id=st.text(min_size=1, max_size=20),
    sku=_opt_text,
    title=_opt_text,
    quantity=st.integers(min_value=0, max_value=1000),
    unit_price=st.none() | _money,
    gift_message=_opt_text,
    customized_url=_opt_text,
)
orders = st.builds(
    Order,
    client_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
    marketplace=st.sampled_from(list(Marketplace)),
    account=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
    marketplace_order_id=st.text(alphabet="0123456789-", min_size=1, max_size=25),
    status=st.sampled_from(list(OrderStatus)),
    purchased_at=_when,
    updated_at=_when,
    delivered_at=st.none() | _when,
    order_total=st.none() | _money,
    buyer=st.none() | buyers,
    shipping_address=st.none() | addresses,
    buyer_message=_opt_text,
    items=st.lists(items, max_size=4),
)


def make_order(**overrides: Any) -> Order:
    """A plausible synthetic order; override any field."""
    purchased = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    fields: dict[str, Any] = {
        "client_id": "acme",
        "marketplace": Marketplace.AMAZON,
        "account": "acme-eu",
        "marketplace_order_id": "028-1234567-1234567",
        "site": "A1PA6795UKMFR9",
        "status": OrderStatus.UNSHIPPED,
        "purchased_at": purchased,
        "updated_at": purchased + timedelta(minutes=5),
        "latest_delivery_by": purchased + timedelta(days=5),
        "currency": "EUR",
        "order_total": Money(amount=Decimal("24.90"), currency="EUR"),
        "buyer": Buyer(name="Erika Mustermann", email="erika@example.invalid"),
        "shipping_address": Address(
            name="Erika Mustermann",
            line1="Heidestrasse 17",
            city="Koeln",
            postal_code="51147",
            country_code="DE",
            phone="+49 221 0000000",
        ),
        "items": (
            OrderItem(
                marketplace_item_id="68828574383266",
                sku="MUG-BLUE",
                title="Blue mug",
                quantity=1,
                item_price=Money(amount=Decimal("24.90"), currency="EUR"),
                gift_message="Happy birthday",
            ),
        ),
    }
    fields.update(overrides)
    return Order(**fields)
