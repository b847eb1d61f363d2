"""A raw GetOrders HTTP answer -> its order nodes and paging fields, or an `EbayError`.

We parse the bytes ourselves rather than trusting ebaysdk's reply object: ebaysdk raises an
AttributeError on an HTML or empty body, drops timestamps' timezones, and builds its error
text from eBay's messages. Documents with a DTD are refused before parsing (eBay never sends
one; no entity is ever expanded), characters XML 1.0 forbids are replaced with U+FFFD (see
`xml_chars`: one buyer's stray control character must not make the whole page unreadable), and
the namespace is stripped so paths read as eBay's field names.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.ebay.errors import ApiError, classify_api_errors, http_error
from connectors.ebay.xml_chars import replace_illegal_characters

__all__ = ["OrdersPage", "parse_get_orders"]

log = logging.getLogger(__name__)

CALL = "GetOrders"
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_INT = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True)
class OrdersPage:
    orders: list[Element]
    has_more: bool
    page_number: int | None
    total_pages: int | None
    total_entries: int | None
    warnings: list[ApiError] = field(default_factory=list)
    # eBay's HardExpirationWarning: the token stops working at this time (within 7 days).
    token_expires: str | None = None


def parse_get_orders(status: int, body: bytes, *, account: str) -> OrdersPage:
    root, replaced = _document(status, body)
    if replaced:
        # A count and the account, never the text around it (buyer-entered, so PII).
        log.warning(
            "%s answer for eBay account %r held %d character(s) XML 1.0 forbids; "
            "each was replaced with U+FFFD",
            CALL,
            account,
            replaced,
        )
    if root.tag != f"{CALL}Response":
        raise http_error(CALL, status, "an XML document that is not a GetOrders response")
    ack = _text(root, "Ack")
    errors = [
        ApiError.safe(
            _text(e, "ErrorCode"), _text(e, "SeverityCode"), _text(e, "ErrorClassification")
        )
        for e in root.findall("Errors")
    ]
    if ack in ("Failure", "PartialFailure"):
        raise classify_api_errors(CALL, account, errors)
    if ack not in ("Success", "Warning"):
        raise http_error(CALL, status, "a response without a known Ack")
    if status != 200:
        raise http_error(CALL, status, f"Ack {ack}")
    return OrdersPage(
        orders=root.findall("OrderArray/Order"),
        has_more=_text(root, "HasMoreOrders") == "true",
        page_number=_int(root, "PageNumber"),
        total_pages=_int(root, "PaginationResult/TotalNumberOfPages"),
        total_entries=_int(root, "PaginationResult/TotalNumberOfEntries"),
        warnings=[e for e in errors if e.severity == "Warning"],
        token_expires=_text(root, "HardExpirationWarning"),
    )


def _document(status: int, body: bytes) -> tuple[Element, int]:
    """The document's root, and how many forbidden characters were replaced to parse it."""
    if not body.strip():
        raise http_error(CALL, status, "an empty body")
    if _DTD.search(body):
        raise http_error(CALL, status, "a non-XML body")
    # After the DTD check, which thus sees the bytes as sent; the replacement cannot make one.
    body, replaced = replace_illegal_characters(body)
    try:
        # The byte check above misses a DTD in a UTF-16 body; defusedxml refuses any DTD,
        # entity or external reference whatever the encoding.
        root: Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise http_error(CALL, status, "a non-XML body") from None
    except ParseError:
        raise http_error(CALL, status, "a non-XML or truncated body") from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.partition("}")[2]
    return root, replaced


def _text(node: Element, path: str) -> str | None:
    value = node.findtext(path)
    return value.strip() if value is not None else None


def _int(node: Element, path: str) -> int | None:
    value = _text(node, path)
    return int(value) if value is not None and _INT.match(value) else None
