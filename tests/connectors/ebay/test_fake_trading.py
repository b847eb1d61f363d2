"""The fake Trading API itself, spoken to over raw HTTP: what it checks and what it answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import fromstring

import httpx
import pytest

from connectors.ebay.connection import COMPATIBILITY_LEVEL
from connectors.fakes.ebay_trading import (
    DEFAULT_KEYS,
    EbayAccountSpec,
    EbayFault,
    FakeEbayTrading,
)
from tests.connectors.ebay.conftest import StartFake
from tests.connectors.ebay.helpers import AUTH_N_AUTH_TOKEN, OAUTH_TOKEN

NS = "{urn:ebay:apis:eBLBaseComponents}"


def _headers(**changes: str | None) -> dict[str, str]:
    headers: dict[str, str | None] = {
        "X-EBAY-API-CALL-NAME": "GetOrders",
        "X-EBAY-API-COMPATIBILITY-LEVEL": COMPATIBILITY_LEVEL,
        "X-EBAY-API-SITEID": "77",
        "X-EBAY-API-IAF-TOKEN": OAUTH_TOKEN,
        "Content-Type": "text/xml",
    }
    headers.update(changes)
    return {k: v for k, v in headers.items() if v is not None}


def _body(
    mod_from: str = "2026-01-01T00:00:00.000Z",
    mod_to: str = "2026-01-31T00:00:00.000Z",
    *,
    page: int = 1,
    per_page: int = 10,
    credentials: str = "",
) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<GetOrdersRequest xmlns="urn:ebay:apis:eBLBaseComponents">'
        f"{credentials}<DetailLevel>ReturnAll</DetailLevel><OrderRole>Seller</OrderRole>"
        f"<ModTimeFrom>{mod_from}</ModTimeFrom><ModTimeTo>{mod_to}</ModTimeTo>"
        f"<Pagination><EntriesPerPage>{per_page}</EntriesPerPage>"
        f"<PageNumber>{page}</PageNumber></Pagination></GetOrdersRequest>"
    ).encode()


_HTTP: list[httpx.Client] = []


@pytest.fixture(scope="module", autouse=True)
def _http() -> Iterator[None]:
    # One client for the module: building its TLS context costs 0.1 s each time.
    with httpx.Client(timeout=5) as client:
        _HTTP.append(client)
        yield
        _HTTP.clear()


def _post(fake: FakeEbayTrading, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return _HTTP[0].post(fake.url, content=body, headers=headers)


def _error_code(response: httpx.Response) -> str | None:
    root = fromstring(response.content)
    assert root.findtext(f"{NS}Ack") == "Failure"
    return root.findtext(f"{NS}Errors/{NS}ErrorCode")


def test_pages_carry_ebays_paging_fields_and_cover_the_window_once(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=40, spread_days=20))
    in_window = [
        o
        for o in fake.orders()
        if datetime(2026, 1, 1, tzinfo=UTC) <= o.modified_at
        and o.modified_at < datetime(2026, 1, 31, tzinfo=UTC)
    ]
    seen: list[str] = []
    page = 1
    while True:
        root = fromstring(_post(fake, _body(page=page), _headers()).content)
        assert root.findtext(f"{NS}Ack") == "Success"
        assert root.findtext(f"{NS}PaginationResult/{NS}TotalNumberOfEntries") == str(
            len(in_window)
        )
        assert root.findtext(f"{NS}PageNumber") == str(page)
        assert root.findtext(f"{NS}OrdersPerPage") == "10"
        orders = root.findall(f"{NS}OrderArray/{NS}Order")
        assert root.findtext(f"{NS}ReturnedOrderCountActual") == str(len(orders))
        seen += [o.findtext(f"{NS}OrderID") or "" for o in orders]
        if root.findtext(f"{NS}HasMoreOrders") == "false":
            break
        page += 1
    assert page == -(-len(in_window) // 10)
    assert sorted(seen) == sorted(o.order_id for o in in_window)


def test_a_range_over_thirty_days_is_refused(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    wide = _post(fake, _body(mod_to="2026-01-31T00:00:01.000Z"), _headers())
    assert _error_code(wide) == "37"
    exact = _post(fake, _body(mod_to="2026-01-31T00:00:00.000Z"), _headers())
    assert fromstring(exact.content).findtext(f"{NS}Ack") == "Success"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"X-EBAY-API-CALL-NAME": None}, "90001"),
        ({"X-EBAY-API-COMPATIBILITY-LEVEL": None}, "90002"),
        ({"X-EBAY-API-COMPATIBILITY-LEVEL": "837"}, "90002"),
        ({"X-EBAY-API-SITEID": "uk"}, "90002"),
        ({"X-EBAY-API-CALL-NAME": "GetItem"}, "90004"),
        ({"X-EBAY-API-IAF-TOKEN": "v^1.1#unknown"}, "931"),
        ({"X-EBAY-API-IAF-TOKEN": None}, "90003"),  # Auth'n'Auth needs the three key names
    ],
)
def test_required_headers_are_checked(
    fake_ebay: StartFake, changes: dict[str, str | None], code: str
) -> None:
    fake = fake_ebay()
    assert _error_code(_post(fake, _body(), _headers(**changes))) == code


def test_an_auth_n_auth_token_in_the_body_needs_the_applications_keys(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=AUTH_N_AUTH_TOKEN))
    credentials = f"<RequesterCredentials><eBayAuthToken>{AUTH_N_AUTH_TOKEN}</eBayAuthToken>"
    credentials += "</RequesterCredentials>"
    keys = {
        "X-EBAY-API-APP-NAME": DEFAULT_KEYS["app_id"],
        "X-EBAY-API-DEV-NAME": DEFAULT_KEYS["dev_id"],
        "X-EBAY-API-CERT-NAME": DEFAULT_KEYS["cert_id"],
    }
    body = _body(credentials=credentials)
    ok = _post(fake, body, _headers(**{"X-EBAY-API-IAF-TOKEN": None, **keys}))
    assert fromstring(ok.content).findtext(f"{NS}Ack") == "Success"
    wrong = keys | {"X-EBAY-API-CERT-NAME": "someone-elses"}
    refused = _post(fake, body, _headers(**{"X-EBAY-API-IAF-TOKEN": None, **wrong}))
    assert _error_code(refused) == "90003"
    assert [r.account for r in fake.records] == ["seller", None]


def test_faults_answer_in_injection_order_and_are_counted(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    fake.inject(EbayFault.HTML_503)
    fake.inject(EbayFault.EMPTY_BODY)
    fake.inject(EbayFault.INTERNAL_ERROR)
    assert fake.pending_faults() == 3
    html = _post(fake, _body(), _headers())
    assert html.status_code == 503
    assert html.content.startswith(b"<!DOCTYPE html>")
    empty = _post(fake, _body(), _headers())
    assert (empty.status_code, empty.content) == (200, b"")
    assert _error_code(_post(fake, _body(), _headers())) == "10007"
    assert fromstring(_post(fake, _body(), _headers()).content).findtext(f"{NS}Ack") == "Success"
    assert fake.count() == 4
    assert fake.pending_faults() == 0
    assert [r.fault for r in fake.records] == ["html_503", "empty_body", "internal_error", None]


def test_synthetic_orders_are_deterministic_and_their_buyers_made_up() -> None:
    spec = EbayAccountSpec(token=OAUTH_TOKEN, orders=25, seed=11)
    first, second = FakeEbayTrading([spec]).orders(), FakeEbayTrading([spec]).orders()
    assert first == second
    other = FakeEbayTrading([EbayAccountSpec(token=OAUTH_TOKEN, orders=25, seed=12)]).orders()
    assert {o.order_id for o in first}.isdisjoint(o.order_id for o in other)
    for order in first:
        assert order.buyer_email.endswith("@buyers.example.invalid")
        emails = re.findall(r"[\w.+-]+@[\w.-]+", order.xml)
        assert all(e.endswith(".example.invalid") for e in emails)
        assert order.created_at <= order.modified_at


def test_modifying_an_order_moves_it_in_modification_order(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=5))
    first = fake.orders()[0]
    later = datetime(2026, 6, 1, tzinfo=UTC)
    fake.modify(OAUTH_TOKEN, first.order_id, later)
    moved = fake.orders()[-1]
    assert moved.order_id == first.order_id
    assert moved.modified_at == later
    assert "<LastModifiedTime>2026-06-01T00:00:00.000Z</LastModifiedTime>" in moved.xml
    assert later - timedelta(days=1) > fake.orders()[-2].modified_at


def test_other_paths_are_not_found(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    response = _HTTP[0].post(fake.url.replace("/ws/api.dll", "/other"), content=b"")
    assert response.status_code == 404
