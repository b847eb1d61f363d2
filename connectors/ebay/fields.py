"""Typed reads from a GetOrders XML node, each failure a `PayloadError` naming the XML path.

Nodes arrive with their namespace stripped (see `response`), so paths are eBay's own field
names: `ShippingAddress/PostalCode`. Empty elements read as absent.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from connectors.ebay.dates import parse_ebay_datetime
from connectors.ebay.quarantine import PayloadError
from connectors.order import Money

__all__ = ["all_at", "bool_at", "datetime_at", "int_at", "money_at", "text_at"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^-?\d{1,15}(?:\.\d{1,6})?$")
# eBay writes this where the value exists but the caller may not see it (email, phone).
HIDDEN = "Invalid Request"


def text_at(node: Element, path: str) -> str | None:
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value if value and value != HIDDEN else None


def all_at(node: Element, path: str) -> list[Element]:
    """Every node at `path`: eBay repeats a node for a list, one node or many alike."""
    return node.findall(path)


def datetime_at(node: Element, path: str) -> datetime | None:
    raw = text_at(node, path)
    if raw is None:
        return None
    try:
        return parse_ebay_datetime(raw)
    except ValueError as exc:
        raise PayloadError(path, str(exc)) from None


def int_at(node: Element, path: str) -> int | None:
    raw = text_at(node, path)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d{1,9}", raw):
        raise PayloadError(path, "expected an integer")
    return int(raw)


def bool_at(node: Element, path: str) -> bool | None:
    raw = text_at(node, path)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise PayloadError(path, "expected true or false")
    return raw == "true"


def money_at(node: Element, path: str) -> Money | None:
    """An AmountType: `<Total currencyID="EUR">12.5</Total>`."""
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        return None
    raw = found.text.strip()
    currency = found.get("currencyID", "")
    if not _CURRENCY.match(currency):
        raise PayloadError(f"{path}.currencyID", "expected a three-letter currency code")
    if not _AMOUNT.match(raw):
        raise PayloadError(path, "expected a decimal amount")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise PayloadError(path, "expected a decimal amount") from None
    return Money(amount=amount, currency=currency)
