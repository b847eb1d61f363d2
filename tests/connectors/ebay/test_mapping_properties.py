"""Hypothesis on the mapping: well-formed nodes always map, malformed ones are quarantined."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.classify import split
from connectors.ebay import MappingContext, QuarantineItem, map_orders
from connectors.order import Order, OrderStatus
from tests.connectors.ebay.nodes import Amount, nodes

CTX = MappingContext(client_id="acme", account="acme-ebay", site="77")
PROFILE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# XML 1.0 text: no control characters, surrogates or non-characters.
text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=60
).filter(lambda s: s.strip() and s.strip() != "Invalid Request")
optional_text = st.none() | text
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=offsets
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
emails = st.emails(domains=st.just("buyers.example.invalid"))
currencies = st.sampled_from(["EUR", "GBP", "USD", "AUD"])


def stamp(value: datetime) -> str:
    """eBay writes Z; other producers an offset: both must keep the instant."""
    head = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if value.utcoffset() == timedelta(0):
        return head + "Z"
    return head + value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]


@st.composite
def packages(draw: st.DrawFn) -> Any:
    count = draw(st.integers(min_value=0, max_value=3))
    made = [
        {
            "EstimatedDeliveryTimeMax": draw(st.none() | instants.map(stamp)),
            "ActualDeliveryTime": draw(st.none() | instants.map(stamp)),
        }
        for _ in range(count)
    ]
    if count == 1 and draw(st.booleans()):
        return made[0]  # one node, not a list of one
    return made or None


@st.composite
def lines(draw: st.DrawFn, currency: str) -> list[dict[str, Any]]:
    made = []
    for n in range(draw(st.integers(min_value=0, max_value=3))):
        made.append(
            {
                "Buyer": {
                    "Email": draw(st.none() | emails),
                    "UserFirstName": draw(optional_text),
                    "UserLastName": draw(optional_text),
                },
                "Item": {
                    "ItemID": str(draw(st.integers(min_value=1, max_value=10**12))),
                    "Title": draw(optional_text),
                    "SKU": draw(optional_text),
                },
                "QuantityPurchased": str(draw(st.integers(min_value=0, max_value=999))),
                "TransactionID": str(n),
                "TransactionPrice": Amount(f"{draw(amounts)}", currency),
                "ShippedTime": draw(st.none() | instants.map(stamp)),
                "GiftSummary": {"Message": draw(optional_text)},
            }
        )
    return made


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(currencies)
    created = draw(instants)
    return {
        "OrderID": draw(st.from_regex(r"\A[0-9]{2}-[0-9]{5}-[0-9]{5}\Z")),
        "OrderStatus": draw(
            st.none()
            | st.sampled_from(["Active", "Completed", "Cancelled", "CancelPending", "Shipped"])
        ),
        "CancelStatus": draw(
            st.none() | st.sampled_from(["CancelComplete", "CancelRequested", "NotApplicable"])
        ),
        "CheckoutStatus": {
            "LastModifiedTime": draw(st.none() | instants.map(stamp)),
            "Status": draw(st.sampled_from(["Complete", "Incomplete", "Pending"])),
        },
        "CreatedTime": stamp(created),
        "ShippingAddress": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "Name": optional_text,
                    "Street1": optional_text,
                    "Street2": optional_text,
                    "CityName": optional_text,
                    "StateOrProvince": optional_text,
                    "Country": st.none() | st.sampled_from(["DE", "US", "CustomCode"]),
                    "Phone": optional_text,
                    "PostalCode": optional_text,
                }
            )
        ),
        "BuyerCheckoutMessage": draw(optional_text),
        "BuyerTaxIdentifier": draw(
            st.lists(
                st.fixed_dictionaries({"ID": optional_text, "Type": optional_text}), max_size=2
            )
        ),
        "ShippingServiceSelected": {"ShippingPackageInfo": draw(packages())},
        "Total": draw(st.none() | amounts.map(lambda a: Amount(f"{a}", currency))),
        "TransactionArray": {"Transaction": draw(lines(currency))},
        "BuyerUserID": draw(optional_text),
        "PaidTime": draw(st.none() | instants.map(stamp)),
        "ShippedTime": draw(st.none() | instants.map(stamp)),
        "EIASToken": draw(optional_text),
        "_created": created,  # for the assertions; taken out before rendering
    }


def _render_ready(order: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    order = dict(order)
    return order, order.pop("_created")


@PROFILE
@given(orders())
def test_a_well_formed_node_always_maps(tree: dict[str, Any]) -> None:
    order_tree, created = _render_ready(tree)
    (result,) = map_orders(nodes(order_tree), CTX)
    assert isinstance(result, Order), result
    assert result.purchased_at == created.astimezone(UTC)
    assert result.purchased_at.tzinfo is UTC
    if result.status is OrderStatus.DELIVERED:
        assert result.delivered_at is not None
        assert result.delivery_source == "actual_delivery_time"
    if result.buyer is not None and result.buyer.email is not None:
        clear, pii = split(result)
        assert json.dumps(result.buyer.email) not in json.dumps(clear)
        assert pii["buyer"]["email"] == result.buyer.email
    lines_in = order_tree["TransactionArray"]["Transaction"]
    assert len(result.items) == len(lines_in)
    for item, line in zip(result.items, lines_in, strict=True):
        assert item.quantity == int(line["QuantityPurchased"])
        assert item.unit_price is not None
        assert item.item_price is not None
        assert item.item_price.amount == item.unit_price.amount * item.quantity
        assert item.unit_price.amount == Decimal(line["TransactionPrice"].value)


CORRUPTIONS = {
    "no OrderID": lambda o: o.pop("OrderID"),
    "naive CreatedTime": lambda o: o.update(CreatedTime=o["CreatedTime"][:23]),
    "garbage CreatedTime": lambda o: o.update(CreatedTime="yesterday"),
    "unknown OrderStatus": lambda o: o.update(OrderStatus="Invalid"),
    "Total without currency": lambda o: o.update(Total=Amount("12.00", None)),
    "lower-case currency": lambda o: o.update(Total=Amount("12.00", "eur")),
    "Total not a number": lambda o: o.update(Total=Amount("12,00")),
    "bad country": lambda o: o.update(ShippingAddress={"Country": "Germany"}),
    "naive delivery": lambda o: o.update(
        ShippingServiceSelected={"ShippingPackageInfo": {"ActualDeliveryTime": "2026-01-01T10:00"}}
    ),
    "quantity not a number": lambda o: o.update(
        TransactionArray={"Transaction": [{"Item": {"ItemID": "1"}, "QuantityPurchased": "1.5"}]}
    ),
    "line without ids": lambda o: o.update(
        TransactionArray={"Transaction": [{"QuantityPurchased": "1"}]}
    ),
}


@PROFILE
@given(orders(), st.sampled_from(sorted(CORRUPTIONS)))
def test_a_malformed_node_is_quarantined_never_raised(tree: dict[str, Any], how: str) -> None:
    order_tree, _ = _render_ready(copy.deepcopy(tree))
    CORRUPTIONS[how](order_tree)
    (result,) = map_orders(nodes(order_tree), CTX)
    assert isinstance(result, QuarantineItem), how
    assert result.field
    assert result.reason
    assert b"<Order>" in result.payload
    # Field and reason are built from names, never from the node's values.
    for value in ("Germany", "yesterday", "12,00", "eur"):
        assert value not in result.field + result.reason
