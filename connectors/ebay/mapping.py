"""GetOrders `Order` node -> canonical `Order`, with every PII field where the model says.

Buyer identity (our choice, from eBay's GetOrders fields): GetOrders has no separate immutable
user id. `BuyerUserID` is the username, which its owner can change (and which eBay replaces
by an immutable id for some developers since September 2025, without saying which one it
sent). The `EIASToken` is the identifier eBay documents as never changing for a user, so it
keys the buyer (`marketplace_buyer_id`, also kept as `eias_token`); the username is only the
`username`. When eBay sends no EIAS token the buyer has no `marketplace_buyer_id` rather than
one keyed on a username.

A node that cannot be mapped becomes a `QuarantineItem` carrying its XML; the rest of the page
goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, tostring

from pydantic import ValidationError

from connectors.ebay.fields import all_at, datetime_at, int_at, money_at, text_at
from connectors.ebay.quarantine import (
    PayloadError,
    QuarantineItem,
    describe_validation_error,
    safe_order_id,
)
from connectors.ebay.status import fulfilment
from connectors.order import Address, Buyer, Marketplace, Money, Order, OrderItem

__all__ = ["MappingContext", "map_order", "map_orders"]

_BUYER = "TransactionArray/Transaction/Buyer"
_T = TypeVar("_T")


@dataclass(frozen=True)
class MappingContext:
    client_id: str
    account: str
    site: str  # the eBay site id the account is configured for


def map_orders(nodes: Iterable[Element], ctx: MappingContext) -> Iterator[Order | QuarantineItem]:
    for node in nodes:
        try:
            yield map_order(node, ctx)
        except PayloadError as exc:
            yield _quarantined(node, exc.field, exc.problem)
        except ValidationError as exc:
            yield _quarantined(node, *describe_validation_error(exc))


def map_order(node: Element, ctx: MappingContext) -> Order:
    order_id = text_at(node, "OrderID")
    if order_id is None:
        raise PayloadError("OrderID", "required field is missing")
    purchased_at = datetime_at(node, "CreatedTime")
    if purchased_at is None:
        raise PayloadError("CreatedTime", "required field is missing")
    updated_at = datetime_at(node, "CheckoutStatus/LastModifiedTime") or purchased_at
    state = fulfilment(node, updated_at=updated_at)
    total = money_at(node, "Total")
    return Order(
        client_id=ctx.client_id,
        marketplace=Marketplace.EBAY,
        account=ctx.account,
        marketplace_order_id=order_id,
        site=ctx.site,
        status=state.status,
        purchased_at=purchased_at,
        updated_at=updated_at,
        shipped_at=state.shipped_at,
        delivered_at=state.delivered_at,
        delivery_source=state.delivery_source,
        cancelled_at=state.cancelled_at,
        latest_delivery_by=state.latest_delivery_by,
        currency=total.currency if total else None,
        order_total=total,
        buyer=_nested("buyer", _buyer, node),
        shipping_address=_nested("shipping_address", _address, node),
        buyer_message=text_at(node, "BuyerCheckoutMessage")
        or text_at(node, "TransactionArray/Transaction/BuyerCheckoutMessage"),
        items=tuple(
            _nested(f"items[{index}]", _item, line, index, state.shipped_at is not None)
            for index, line in enumerate(all_at(node, "TransactionArray/Transaction"))
        ),
    )


def _nested(prefix: str, build: Callable[..., _T], *args: Any) -> _T:
    """Build a nested model; its validation error names the field within the order."""
    try:
        return build(*args)
    except ValidationError as exc:
        field, problem = describe_validation_error(exc)
        raise PayloadError(f"{prefix}.{field}", problem) from None


def _buyer(node: Element) -> Buyer | None:
    eias_token = text_at(node, "EIASToken") or text_at(node, f"{_BUYER}/EIASToken")
    names = [text_at(node, f"{_BUYER}/UserFirstName"), text_at(node, f"{_BUYER}/UserLastName")]
    tax_ids = [
        (text_at(t, "Type") or "unknown", text_at(t, "ID"))
        for t in all_at(node, "BuyerTaxIdentifier")
    ]
    tax_info: dict[str, str] = {}
    for kind, value in tax_ids:
        if value is not None:
            tax_info.setdefault(kind, value)
    buyer = Buyer(
        name=" ".join(n for n in names if n) or None,
        email=text_at(node, f"{_BUYER}/Email"),
        marketplace_buyer_id=eias_token,
        username=text_at(node, "BuyerUserID") or text_at(node, f"{_BUYER}/UserID"),
        eias_token=eias_token,
        tax_id=next((value for _, value in tax_ids if value is not None), None),
        tax_info=tax_info or None,
    )
    return buyer if buyer.model_dump(exclude_none=True) else None


def _address(node: Element) -> Address | None:
    address = node.find("ShippingAddress")
    if address is None:
        return None
    country = text_at(address, "Country")
    return Address(
        name=text_at(address, "Name"),
        company=text_at(address, "CompanyName"),
        line1=text_at(address, "Street1"),
        line2=text_at(address, "Street2"),
        city=text_at(address, "CityName"),
        state_or_region=text_at(address, "StateOrProvince"),
        postal_code=text_at(address, "PostalCode"),
        # CountryCodeType's placeholder for "none of the codes": no country rather than a guess.
        country_code=None if country == "CustomCode" else country,
        phone=text_at(address, "Phone"),
    )


def _item(line: Element, index: int, order_shipped: bool) -> OrderItem:
    where = f"TransactionArray/Transaction[{index}]"
    item_id = text_at(line, "Item/ItemID")
    line_id = text_at(line, "OrderLineItemID") or (
        f"{item_id}-{text_at(line, 'TransactionID') or '0'}" if item_id else None
    )
    if line_id is None:
        raise PayloadError(f"{where}/OrderLineItemID", "required field is missing")
    try:
        quantity = int_at(line, "QuantityPurchased")
        unit_price = money_at(line, "TransactionPrice")
        shipped = order_shipped or datetime_at(line, "ShippedTime") is not None
        return OrderItem(
            marketplace_item_id=line_id,
            sku=text_at(line, "Variation/SKU") or text_at(line, "Item/SKU"),
            product_id=item_id,
            title=text_at(line, "Variation/VariationTitle") or text_at(line, "Item/Title"),
            quantity=_required(quantity, "QuantityPurchased"),
            quantity_shipped=quantity if shipped else None,
            unit_price=unit_price,
            item_price=(
                Money(amount=unit_price.amount * quantity, currency=unit_price.currency)
                if unit_price is not None and quantity is not None
                else None
            ),
            item_tax=money_at(line, "Taxes/TotalTaxAmount"),
            shipping_price=money_at(line, "ActualShippingCost"),
            gift_message=text_at(line, "GiftSummary/Message"),
        )
    except PayloadError as exc:
        raise PayloadError(f"{where}/{exc.field}", exc.problem) from None


def _required(value: int | None, field: str) -> int:
    if value is None:
        raise PayloadError(field, "required field is missing")
    return value


def _quarantined(node: Element, field: str, reason: str) -> QuarantineItem:
    return QuarantineItem(
        marketplace_order_id=safe_order_id(text_at(node, "OrderID")),
        payload=tostring(node, encoding="utf-8").strip(),
        field=field,
        reason=reason,
    )
