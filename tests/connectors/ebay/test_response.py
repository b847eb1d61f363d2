"""A raw GetOrders answer: told apart from error pages, and its failures classified by code."""

from __future__ import annotations

import pytest

from connectors.ebay import AccountNeedsAttention, EbayError
from connectors.ebay.response import parse_get_orders

NS = 'xmlns="urn:ebay:apis:eBLBaseComponents"'
TRUNCATED = f"<GetOrdersResponse {NS}><Ack>Success</Ack><OrderArray>".encode()
UNKNOWN_ACK = f"<GetOrdersResponse {NS}><Ack>Maybe</Ack></GetOrdersResponse>".encode()


def _failure(code: str, classification: str = "RequestError", severity: str = "Error") -> bytes:
    return (
        f"<GetOrdersResponse {NS}><Ack>Failure</Ack><Errors>"
        "<ShortMessage>Buyer ada.adler@buyers.example.invalid said no.</ShortMessage>"
        "<LongMessage>Value Lindenweg 7 was refused.</LongMessage>"
        f"<ErrorCode>{code}</ErrorCode><SeverityCode>{severity}</SeverityCode>"
        f"<ErrorClassification>{classification}</ErrorClassification>"
        "<ErrorParameters ParamID='0'><Value>ada_adler_77</Value></ErrorParameters>"
        "</Errors></GetOrdersResponse>"
    ).encode()


def _parse(status: int, body: bytes) -> EbayError:
    with pytest.raises(EbayError) as caught:
        parse_get_orders(status, body, account="acme-ebay")
    for leaked in ("ada", "Lindenweg", "said no", "was refused"):
        assert leaked not in caught.value.message  # eBay's texts can echo request values
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "what", "retryable"),
    [
        (200, b"", "an empty body", True),
        (200, b"  \n", "an empty body", True),
        (503, b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "non-XML", True),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "not a GetOrders", True),
        (504, b"<html><body><hr></body></html>", "non-XML", True),
        (
            200,
            f"<GetOrdersResponse {NS}><Ack>Success</Ack><OrderArray>".encode(),
            "truncated",
            True,
        ),
        (404, b"Not Found", "non-XML", False),
        (
            200,
            f"<GetOrdersResponse {NS}><Ack>Maybe</Ack></GetOrdersResponse>".encode(),
            "Ack",
            True,
        ),
    ],
)
def test_an_answer_that_is_not_a_trading_api_response_is_classified_by_status(
    status: int, body: bytes, what: str, retryable: bool
) -> None:
    error = _parse(status, body)
    assert f"HTTP {status}" in error.message
    assert what in error.message
    assert error.retryable is retryable
    assert error.status == status


def test_a_document_with_a_dtd_is_refused_without_expanding_anything() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<GetOrdersResponse><Ack>&lol2;</Ack></GetOrdersResponse>"
    )
    assert "non-XML" in _parse(200, bomb).message


@pytest.mark.parametrize("code", ["931", "932", "17470", "21916984", "841"])
def test_a_refused_token_or_account_needs_attention(code: str) -> None:
    error = _parse(200, _failure(code))
    assert isinstance(error, AccountNeedsAttention)
    assert not error.retryable
    assert f"error {code}" in error.message
    assert "'acme-ebay'" in error.message


@pytest.mark.parametrize(
    ("code", "classification", "retryable", "retry_now"),
    [
        ("10007", "RequestError", True, True),  # eBay's internal error, whatever its class
        ("518", "RequestError", True, False),  # the application's call limit: later, not now
        ("12345", "SystemError", True, True),
        ("37", "RequestError", False, False),  # our request is wrong: retrying cannot help
        ("not-a-code", "RequestError", False, False),
    ],
)
def test_failures_are_classified_by_code_and_class(
    code: str, classification: str, retryable: bool, retry_now: bool
) -> None:
    error = _parse(200, _failure(code, classification))
    assert not isinstance(error, AccountNeedsAttention)
    assert (error.retryable, error.retry_now) == (retryable, retry_now)
    assert error.code == (code if code.isdigit() else None)


def test_a_warning_is_not_a_failure_and_a_coming_token_expiry_is_reported() -> None:
    body = (
        f"<GetOrdersResponse {NS}><Ack>Warning</Ack>"
        "<Errors><ErrorCode>21917108</ErrorCode><SeverityCode>Warning</SeverityCode>"
        "<ErrorClassification>RequestError</ErrorClassification></Errors>"
        "<HardExpirationWarning>2026-03-25 10:00:00</HardExpirationWarning>"
        "<PaginationResult><TotalNumberOfPages>3</TotalNumberOfPages>"
        "<TotalNumberOfEntries>25</TotalNumberOfEntries></PaginationResult>"
        "<HasMoreOrders>true</HasMoreOrders><OrderArray><Order><OrderID>1</OrderID></Order>"
        "</OrderArray><PageNumber>2</PageNumber></GetOrdersResponse>"
    ).encode()
    page = parse_get_orders(200, body, account="acme-ebay")
    assert [w.code for w in page.warnings] == ["21917108"]
    assert page.token_expires == "2026-03-25 10:00:00"
    assert (page.has_more, page.page_number, page.total_pages, page.total_entries) == (
        True,
        2,
        3,
        25,
    )
    assert [o.tag for o in page.orders] == ["Order"]  # namespace stripped


# --- characters XML 1.0 forbids, as eBay has sent them in buyer-entered text -----------------


def _two_orders_with_name(name: str) -> bytes:
    """A page of two orders; the first one's shipping name is `name`, spliced in raw."""
    from tests.connectors.ebay.nodes import BASE_ORDER, order_with, response_xml

    address = {**BASE_ORDER["ShippingAddress"], "Name": "NAME-PLACEHOLDER"}
    body = response_xml([order_with(ShippingAddress=address), order_with(OrderID="12-34567-89013")])
    return body.replace(b"NAME-PLACEHOLDER", name.encode())


@pytest.mark.parametrize(
    "illegal",
    [
        "\x01",
        "\x00",
        "\x0b",
        "\x1f",
        "\uffff",
        "\ufffe",
        "&#x1;",
        "&#1;",
        "&#x0;",
        "&#xD800;",
        "&#xFFFE;",
        "&#1114112;",
        "&#x000000000001;",
    ],
)
def test_one_illegal_character_costs_neither_the_page_nor_the_order(
    illegal: str, caplog: pytest.LogCaptureFixture
) -> None:
    from connectors.ebay import MappingContext, map_orders
    from connectors.order import Order

    with caplog.at_level("WARNING", logger="connectors.ebay.response"):
        page = parse_get_orders(
            200, _two_orders_with_name(f"Ada{illegal}Adler"), account="acme-ebay"
        )
    orders = list(map_orders(page.orders, MappingContext("acme", "acme-ebay", "3")))
    first, second = orders
    assert isinstance(first, Order)
    assert isinstance(second, Order)
    assert first.shipping_address is not None
    assert first.shipping_address.name == "Ada\ufffdAdler"
    assert second.marketplace_order_id == "12-34567-89013"
    # The operator learns it happened, and for which account, never the text around it.
    assert "1 character(s) XML 1.0 forbids" in caplog.text
    assert "'acme-ebay'" in caplog.text
    assert "Ada" not in caplog.text


def test_legal_characters_and_references_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    from connectors.ebay.xml_chars import replace_illegal_characters

    body = _two_orders_with_name("Ad&#xE9;le&#10;&#9;&#x1F600;\t\u00e9\U0001f600 &amp;#x1;")
    assert replace_illegal_characters(body) == (body, 0)
    with caplog.at_level("WARNING"):
        page = parse_get_orders(200, body, account="acme-ebay")
    assert len(page.orders) == 2
    assert "forbids" not in caplog.text


def test_a_utf16_answer_is_not_rewritten() -> None:
    from connectors.ebay.xml_chars import replace_illegal_characters

    text = (
        _two_orders_with_name("Ada Adler").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    )
    body = text.encode("utf-16")
    assert replace_illegal_characters(body) == (body, 0)
    assert len(parse_get_orders(200, body, account="acme-ebay").orders) == 2


def test_a_dtd_is_still_refused_when_the_body_also_holds_illegal_characters() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol\x01">]>'
        b"<GetOrdersResponse><Ack>&lol;&#x1;</Ack></GetOrdersResponse>"
    )
    assert "non-XML" in _parse(200, bomb).message


def test_an_illegal_character_in_a_timestamp_quarantines_that_order_only() -> None:
    from connectors.ebay import MappingContext, QuarantineItem, map_orders
    from connectors.order import Order

    body = _two_orders_with_name("Ada Adler").replace(
        b"2026-02-01T08:15:30.250Z", b"2026-02-01T08:15:\x0130.250Z", 1
    )
    page = parse_get_orders(200, body, account="acme-ebay")
    first, second = map_orders(page.orders, MappingContext("acme", "acme-ebay", "3"))
    assert isinstance(first, QuarantineItem)
    assert first.field == "CreatedTime"
    assert isinstance(second, Order)
