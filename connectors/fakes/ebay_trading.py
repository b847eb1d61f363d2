"""A fake eBay Trading API on 127.0.0.1: GetOrders with paging, synthetic orders, faults.

    with FakeEbayTrading([EbayAccountSpec(token=OAUTH_TOKEN, orders=250)]) as fake:
        settings = EbayAccountSettings(..., token=OAUTH_TOKEN, endpoint=fake.url, **fake.keys)
        fake.inject(EbayFault.HTML_503, times=2)

It answers `POST /ws/api.dll` the way the Trading API does: headers checked
(X-EBAY-API-CALL-NAME, -COMPATIBILITY-LEVEL, -SITEID, and either the IAF token header or the
APP/DEV/CERT names with an Auth'n'Auth token in the body), GetOrders only, ModTimeFrom/ModTimeTo
required and capped at 30 days, Pagination by EntriesPerPage (1-100, default 25) and
PageNumber, orders sorted by modification time. Answers carry Ack, Errors, PaginationResult,
HasMoreOrders, OrderArray, OrdersPerPage, PageNumber and ReturnedOrderCountActual.

Each account (keyed by its token) holds synthetic orders from a deterministic seed; buyers are
made up, emails end in `.example.invalid` (DPP 2.5); buyers a test plants (canaries, see
`connectors.fakes.planted`) get one order each after those. Error codes are eBay's where the fake
mimics a known condition (931, 932, 518, 10007, 37, 5); refusals of malformed headers use codes
of the fake's own, 90001-90004. Every request is counted and recorded (without tokens).

`python -m connectors.fakes.ebay_trading --orders 500` serves one account until interrupted
and prints its URL, token and keys as one JSON line.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import enum
import json
import random
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring
from xml.sax.saxutils import escape, quoteattr

from connectors.fakes.faults import cut
from connectors.fakes.planted import PlantedBuyer

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_START",
    "CallRecord",
    "EbayAccountSpec",
    "EbayFault",
    "FakeEbayOrder",
    "FakeEbayTrading",
]

NS = "urn:ebay:apis:eBLBaseComponents"
PATH = "/ws/api.dll"
VERSION = "1455"
MAX_RANGE = timedelta(days=30)
#: Synthetic purchases start here and spread over `spread_days`.
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_KEYS = {"app_id": "ordervault-fake-app", "dev_id": "fake-dev", "cert_id": "fake-cert"}
_HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The server is temporarily unable to service your request."
    b"</p></body></html>"
)


class EbayFault(enum.StrEnum):
    HTML_503 = "html_503"  # 503 with a load balancer's HTML page
    EMPTY_BODY = "empty_body"  # 200 with nothing in it
    TRUNCATED = "truncated"  # 200 whose XML stops halfway
    CUT = "cut"  # 200 with the real answer cut off: halfway, or just after `cut_after`
    SLOW = "slow"  # the real answer, after `delay_s` real seconds (client timeouts)
    INTERNAL_ERROR = "internal_error"  # Ack=Failure, 10007 SystemError
    USAGE_LIMIT = "usage_limit"  # Ack=Failure, 518 (the application's call limit)
    AUTH_INVALID = "auth_invalid"  # Ack=Failure, 931 (the token is invalid)
    AUTH_EXPIRED = "auth_expired"  # Ack=Failure, 932 (the token hard-expired)


_FAILURES = {
    EbayFault.INTERNAL_ERROR: ("10007", "SystemError", "Internal error to the application."),
    EbayFault.USAGE_LIMIT: ("518", "RequestError", "Call usage limit has been reached."),
    EbayFault.AUTH_INVALID: ("931", "RequestError", "Auth token is invalid."),
    EbayFault.AUTH_EXPIRED: ("932", "RequestError", "Auth token is hard expired."),
}


@dataclass(frozen=True)
class EbayAccountSpec:
    token: str  # an OAuth user token ("v^1.1#...") or an Auth'n'Auth one ("AgAAAA**...")
    orders: int = 40
    seed: int = 0
    start: datetime = DEFAULT_START
    spread_days: int = 60
    malformed: int = 0  # how many orders are broken (a naive timestamp, an amount's currency)
    name: str = "seller"  # the seller's user id; records name accounts by it, never by token
    planted: tuple[PlantedBuyer, ...] = ()  # one extra order each, after the synthetic ones


@dataclass(frozen=True)
class FakeEbayOrder:
    """One synthetic order, with what a correct mapping must find in it."""

    order_id: str
    created_at: datetime
    modified_at: datetime
    expected_status: str  # the canonical OrderStatus value
    buyer_email: str
    buyer_username: str
    eias_token: str
    packages: int  # ShippingPackageInfo nodes: 0, 1 or 2
    lines: int
    malformed: bool
    xml: str  # the <Order> element as served (namespace from the enclosing response)


@dataclass(frozen=True)
class CallRecord:
    call: str | None
    account: str | None  # the account's name; None when the token matched none
    page: int | None
    mod_from: str | None
    mod_to: str | None
    entries_per_page: int | None
    detail_level: str | None
    order_role: str | None
    auth: str | None  # "iaf" or "auth_n_auth"
    site_id: str | None
    compatibility: str | None
    status: int
    ack: str | None
    fault: str | None


@dataclass
class _Fault:
    kind: EbayFault
    remaining: int
    delay_s: float
    cut_after: str | None = None


@dataclass
class _Reply:
    status: int
    body: bytes
    ack: str | None = None
    fault: str | None = None
    content_type: str = "text/xml;charset=utf-8"


class _Refused(Exception):
    def __init__(self, code: str, classification: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.classification = classification
        self.message = message


# -- synthetic orders -------------------------------------------------------------------------

_FIRST = ("Ada", "Bruno", "Chloe", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas")
_LAST = ("Adler", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haas", "Ito")
_STREETS = ("Lindenweg", "Rue des Lilas", "Via Roma", "High Street", "Kastanienallee")
_PLACES = (
    ("Berlin", "BE", "10115", "DE", "Germany", "EUR", "+49 30 5550"),
    ("Lyon", "", "69001", "FR", "France", "EUR", "+33 4 5550"),
    ("Leeds", "West Yorkshire", "LS1 4AP", "GB", "United Kingdom", "GBP", "+44 113 4960"),
    ("Austin", "TX", "78701", "US", "United States", "USD", "+1 512 555"),
)
_PRODUCTS = (
    ("MUG-BLUE", "Blue mug", "12.90"),
    ("TEE-M", "T-shirt, size M", "19.50"),
    ("POSTER-A2", "Poster A2 <limited> & signed", "8.00"),
)
_KINDS = ("unpaid", "paid", "shipped", "partly", "delivered", "cancelled")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _stamp(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _el(tag: str, value: object, **attrs: str) -> str:
    rendered = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f"<{tag}{rendered}>{escape(str(value))}</{tag}>"


def _render(tag: str, value: object) -> str:
    """A tree of dicts (children in order), lists (the tag repeated), `_Amount`s and scalars."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(_render(tag, item) for item in value)
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_render(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, _Amount):
        attrs = {"currencyID": value.currency} if value.currency else {}
        return _el(tag, f"{value.amount:.2f}", **attrs)
    return _el(tag, value)


@dataclass(frozen=True)
class _Amount:
    amount: Decimal
    currency: str | None  # None only to break an order on purpose


class _OrderMaker:
    """Draws one account's orders; the same spec always gives the same orders."""

    def __init__(self, spec: EbayAccountSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"{spec.seed}:{spec.token}")  # noqa: S311 (not for secrets)
        self._ids: set[str] = set()
        self._broken = set(self.rng.sample(range(spec.orders), min(spec.malformed, spec.orders)))

    def orders(self) -> list[FakeEbayOrder]:
        drawn = [self._order(n) for n in range(self.spec.orders)]
        count = self.spec.orders
        return drawn + [self._order(count + i, b) for i, b in enumerate(self.spec.planted)]

    def _order_id(self) -> str:
        rng = self.rng
        while True:
            candidate = f"{rng.randrange(10, 99)}-{rng.randrange(10**4, 10**5)}-" + (
                f"{rng.randrange(10**4, 10**5)}"
            )
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _order(self, n: int, planted: PlantedBuyer | None = None) -> FakeEbayOrder:
        rng, spec = self.rng, self.spec
        order_id = self._order_id()
        kind = rng.choice(_KINDS)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, state, postal, country, country_name, currency, phone = rng.choice(_PLACES)
        username, eias = f"{first}{last}{n}".lower(), _eias_token(rng)
        email = f"{first}.{last}.{n}@buyers.example.invalid".lower()
        lines = rng.randint(2, 3) if kind == "partly" else rng.randint(1, 3)
        packages = 0 if kind in ("unpaid", "cancelled") else rng.choice((1, 1, 2))
        created = spec.start + timedelta(
            seconds=rng.randrange(spec.spread_days * 86400), milliseconds=rng.randrange(1000)
        )
        paid = created + timedelta(minutes=rng.randint(1, 90))
        shipped = paid + timedelta(hours=rng.randint(2, 48))
        delivered = shipped + timedelta(days=rng.randint(1, 5), minutes=rng.randint(0, 600))
        cancelled = paid + timedelta(hours=rng.randint(1, 30))
        last_event = {"unpaid": created, "paid": paid, "delivered": delivered}.get(
            kind, cancelled if kind == "cancelled" else shipped
        )
        modified = last_event + timedelta(
            seconds=rng.randint(0, 600), milliseconds=rng.randrange(1000)
        )
        broken = n in self._broken or (planted is not None and planted.malformed)
        transactions = [
            self._line(
                currency,
                buyer={"Email": email, "UserFirstName": first, "UserLastName": last},
                created=created,
                shipped=shipped
                if kind in ("shipped", "delivered") or (kind == "partly" and line == 0)
                else None,
            )
            for line in range(lines)
        ]
        subtotal = sum(
            (t["TransactionPrice"].amount * t["QuantityPurchased"] for t in transactions),
            Decimal(0),
        )
        shipping = Decimal("4.50")
        promises = [shipped + timedelta(days=rng.randint(2, 6)) for _ in range(packages)]
        order = {
            "OrderID": order_id,
            "OrderStatus": {"unpaid": "Active", "cancelled": "Cancelled"}.get(kind, "Completed"),
            "CancelStatus": "CancelComplete" if kind == "cancelled" else "NotApplicable",
            "CancelDetail": {"CancelCompleteDate": _stamp(modified), "CancelReason": "OutOfStock"}
            if kind == "cancelled"
            else None,
            "CheckoutStatus": {
                "eBayPaymentStatus": "NoPaymentFailure",
                "LastModifiedTime": _stamp(modified),
                "PaymentMethod": "CreditCard",
                "Status": "Incomplete" if kind == "unpaid" else "Complete",
            },
            # A broken order of even number has a time without Z: it cannot be placed.
            "CreatedTime": _stamp(created)[: -1 if broken and n % 2 == 0 else None],
            "ShippingAddress": {
                "Name": f"{first} {last}",
                "Street1": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
                "Street2": f"Apt {rng.randint(1, 40)}" if rng.random() < 0.3 else None,
                "CityName": city,
                "StateOrProvince": state or None,
                "Country": country,
                "CountryName": country_name,
                # eBay's placeholder where the caller may not see the value.
                "Phone": "Invalid Request"
                if rng.random() < 0.2
                else f"{phone}{rng.randrange(10**4):04d}",
                "PostalCode": postal,
                "AddressID": str(rng.randrange(10**9)),
            },
            "BuyerCheckoutMessage": "Please wrap it as a gift, thanks! <3"
            if rng.random() < 0.4
            else None,
            "BuyerTaxIdentifier": {"ID": f"{country}{rng.randrange(10**8, 10**9)}", "Type": "VATIN"}
            if rng.random() < 0.25
            else None,
            "ShippingServiceSelected": {
                "ShippingService": "DE_DHLPaket",
                "ShippingServiceCost": _Amount(shipping, currency),
                "ShippingPackageInfo": [
                    {
                        "EstimatedDeliveryTimeMin": _stamp(promise - timedelta(days=2)),
                        "EstimatedDeliveryTimeMax": _stamp(promise),
                        "ActualDeliveryTime": _stamp(delivered) if kind == "delivered" else None,
                    }
                    for promise in promises
                ],
            },
            "Subtotal": _Amount(subtotal, currency),
            # A broken order of odd number has a total without its currency.
            "Total": _Amount(subtotal + shipping, None if broken and n % 2 else currency),
            "TransactionArray": {"Transaction": transactions},
            "BuyerUserID": username,
            "PaidTime": _stamp(paid) if kind != "unpaid" else None,
            "ShippedTime": _stamp(shipped) if kind in ("shipped", "delivered") else None,
            "EIASToken": eias,
            "PaymentHoldStatus": "None",
            "SellerUserID": spec.name,
            "IsMultiLegShipping": "false",
        }
        if planted is not None:
            _plant(order, planted)
            email, username = planted.email, planted.username or username
        return FakeEbayOrder(
            order_id=order_id,
            created_at=created,
            modified_at=modified,
            expected_status=_EXPECTED[kind],
            buyer_email=email,
            buyer_username=username,
            eias_token=eias,
            packages=packages,
            lines=lines,
            malformed=broken,
            xml=_render("Order", order),
        )

    def _line(
        self, currency: str, *, buyer: dict[str, str], created: datetime, shipped: datetime | None
    ) -> dict[str, Any]:
        rng = self.rng
        sku, title, price = rng.choice(_PRODUCTS)
        item_id, transaction_id = rng.randrange(10**11, 10**12), rng.randrange(10**12, 10**13)
        return {
            "Buyer": buyer,
            "CreatedDate": _stamp(created),
            "Item": {"ItemID": item_id, "Site": "Germany", "Title": title, "SKU": sku},
            "QuantityPurchased": rng.randint(1, 3),
            "TransactionID": transaction_id,
            "TransactionPrice": _Amount(Decimal(price), currency),
            "ShippedTime": _stamp(shipped) if shipped else None,
            "Taxes": {"TotalTaxAmount": _Amount(Decimal(0), currency)},
            "ActualShippingCost": _Amount(Decimal("4.50"), currency),
            "OrderLineItemID": f"{item_id}-{transaction_id}",
        }


def _plant(order: dict[str, Any], planted: PlantedBuyer) -> None:
    """Write the planted buyer over the drawn one, wherever GetOrders carries buyer data."""
    address = order["ShippingAddress"]
    address.update(
        Name=planted.name,
        Street1=planted.address_line1,
        Street2=planted.address_line2,
        Phone=planted.phone,
    )
    if planted.company:
        # Children render in insertion order; eBay's CompanyName sits before Street1.
        order["ShippingAddress"] = {"CompanyName": planted.company, **address}
    if planted.buyer_message:
        order["BuyerCheckoutMessage"] = planted.buyer_message
    if planted.username:
        order["BuyerUserID"] = planted.username
    if planted.tax_id:
        order["BuyerTaxIdentifier"] = {"ID": planted.tax_id, "Type": "VATIN"}
    for index, line in enumerate(order["TransactionArray"]["Transaction"]):
        line["Buyer"] = {
            "Email": planted.email,
            "UserFirstName": planted.first_name,
            "UserLastName": planted.last_name,
        }
        if index == 0 and planted.gift_message:
            line["GiftSummary"] = {"Message": planted.gift_message}


def _eias_token(rng: random.Random) -> str:
    return "nY+sHZ2P" + "".join(rng.choice(_B64) for _ in range(32)) + "=="


_EXPECTED = {
    "unpaid": "pending",
    "paid": "unshipped",
    "shipped": "shipped",
    "partly": "partially_shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
}


# -- the API ----------------------------------------------------------------------------------


class _Account:
    def __init__(self, spec: EbayAccountSpec) -> None:
        self.spec = spec
        self.expired = False
        self.orders = sorted(_OrderMaker(spec).orders(), key=_order_key)
        self._keys = [_order_key(o) for o in self.orders]

    def window(self, mod_from: datetime, mod_to: datetime) -> list[FakeEbayOrder]:
        lo = bisect.bisect_left(self._keys, (mod_from, ""))
        hi = bisect.bisect_left(self._keys, (mod_to, ""))
        return self.orders[lo:hi]

    def modify(self, order_id: str, at: datetime) -> None:
        found = next(o for o in self.orders if o.order_id == order_id)
        old, new = _stamp(found.modified_at), _stamp(at)
        changed = replace(
            found,
            modified_at=at,
            xml=found.xml.replace(
                f"<LastModifiedTime>{old}</LastModifiedTime>",
                f"<LastModifiedTime>{new}</LastModifiedTime>",
            ),
        )
        self.orders = sorted([changed if o is found else o for o in self.orders], key=_order_key)
        self._keys = [_order_key(o) for o in self.orders]


def _order_key(order: FakeEbayOrder) -> tuple[datetime, str]:
    return (order.modified_at, order.order_id)


class _TradingApp:
    """Request in, reply out; the HTTP layer around it is thin."""

    def __init__(self, accounts: Sequence[EbayAccountSpec], keys: dict[str, str]) -> None:
        if len({a.token for a in accounts}) != len(accounts):
            raise ValueError("account tokens must differ")
        self.accounts = {a.token: _Account(a) for a in accounts}
        self.keys = keys
        self.lock = threading.Lock()
        self.faults: list[_Fault] = []
        self.records: list[CallRecord] = []

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[_Reply, float]:
        """The reply, and how long to hold it back (the SLOW fault)."""
        call = headers.get("x-ebay-api-call-name")
        record = _Fields(call=call)
        if path != PATH:
            reply = _Reply(404, b"Not Found", content_type="text/plain")
            self._record(record, reply)
            return reply, 0.0
        fault = self._take_fault()
        delay_s = fault.delay_s if fault and fault.kind is EbayFault.SLOW else 0.0
        try:
            account = self._authenticate(headers, body, record)
            if account.expired:
                raise _Refused(*_FAILURES[EbayFault.AUTH_EXPIRED])
            reply = self._get_orders(account, record)
        except _Refused as refused:
            reply = _failure_reply(refused.code, refused.classification, refused.message)
        if fault is not None and fault.kind is EbayFault.CUT:
            reply = replace(reply, body=cut(reply.body, fault.cut_after), fault=fault.kind.value)
        elif fault is not None and fault.kind is not EbayFault.SLOW:
            reply = _fault_reply(fault.kind)  # infrastructure in front of the API answered
        self._record(record, reply)
        return reply, delay_s

    def _authenticate(self, headers: dict[str, str], body: bytes, record: _Fields) -> _Account:
        record.site_id = headers.get("x-ebay-api-siteid")
        record.compatibility = headers.get("x-ebay-api-compatibility-level")
        if record.call is None:
            raise _Refused("90001", "RequestError", "X-EBAY-API-CALL-NAME header missing.")
        for name in ("x-ebay-api-compatibility-level", "x-ebay-api-siteid"):
            value = headers.get(name, "")
            if not value.isdigit():
                raise _Refused("90002", "RequestError", f"Header {name} missing or not a number.")
        if int(headers["x-ebay-api-compatibility-level"]) < 1000:
            raise _Refused("90002", "RequestError", "Compatibility level no longer supported.")
        document = _parse_request(body, record.call)
        iaf = headers.get("x-ebay-api-iaf-token")
        if iaf:
            record.auth, token = "iaf", iaf
        else:
            record.auth = "auth_n_auth"
            token = (
                document.findtext(f"{{{NS}}}RequesterCredentials/{{{NS}}}eBayAuthToken") or ""
            ).strip()
            sent = (
                headers.get("x-ebay-api-app-name"),
                headers.get("x-ebay-api-dev-name"),
                headers.get("x-ebay-api-cert-name"),
            )
            if sent != (self.keys["app_id"], self.keys["dev_id"], self.keys["cert_id"]):
                raise _Refused("90003", "RequestError", "Application keys missing or unknown.")
        account = self.accounts.get(token)
        if account is None:
            raise _Refused(*_FAILURES[EbayFault.AUTH_INVALID])
        record.account = account.spec.name
        if record.call != "GetOrders":
            raise _Refused("90004", "RequestError", "The fake answers GetOrders only.")
        record.document = document
        return account

    def _get_orders(self, account: _Account, record: _Fields) -> _Reply:
        document = record.document
        assert document is not None

        def field(path: str) -> str | None:
            found = document.findtext("/".join(f"{{{NS}}}{p}" for p in path.split("/")))
            return found.strip() if found is not None else None

        record.detail_level = field("DetailLevel")
        record.order_role = field("OrderRole")
        record.mod_from, record.mod_to = field("ModTimeFrom"), field("ModTimeTo")
        mod_from, mod_to = _time(record.mod_from), _time(record.mod_to)
        if mod_from is None or mod_to is None:
            raise _Refused("37", "RequestError", "Input data for tag <ModTimeFrom> is invalid.")
        if not mod_from < mod_to or mod_to - mod_from > MAX_RANGE:
            raise _Refused("37", "RequestError", "The ModTime range is invalid or too wide.")
        per_page = _int(field("Pagination/EntriesPerPage"), default=25)
        page = _int(field("Pagination/PageNumber"), default=1)
        record.entries_per_page, record.page = per_page, page
        if per_page is None or not 1 <= per_page <= 100 or page is None or page < 1:
            raise _Refused("37", "RequestError", "Input data for tag <Pagination> is invalid.")
        with self.lock:
            matching = account.window(mod_from, mod_to) if record.order_role == "Seller" else []
        total_pages = -(-len(matching) // per_page)
        chunk = matching[(page - 1) * per_page : page * per_page]
        has_more = page < total_pages
        body_xml = (
            _header("Success")
            + "<PaginationResult>"
            + _el("TotalNumberOfPages", total_pages)
            + _el("TotalNumberOfEntries", len(matching))
            + "</PaginationResult>"
            + _el("HasMoreOrders", "true" if has_more else "false")
            + "<OrderArray>"
            + "".join(o.xml for o in chunk)
            + "</OrderArray>"
            + _el("OrdersPerPage", per_page)
            + _el("PageNumber", page)
            + _el("ReturnedOrderCountActual", len(chunk))
            + "</GetOrdersResponse>"
        )
        return _Reply(200, body_xml.encode(), ack="Success")

    def _take_fault(self) -> _Fault | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                self.faults.pop(0)
            return _Fault(fault.kind, 1, fault.delay_s, fault.cut_after)

    def _record(self, fields: _Fields, reply: _Reply) -> None:
        with self.lock:
            self.records.append(fields.record(reply))


@dataclass
class _Fields:
    call: str | None
    account: str | None = None
    page: int | None = None
    mod_from: str | None = None
    mod_to: str | None = None
    entries_per_page: int | None = None
    detail_level: str | None = None
    order_role: str | None = None
    auth: str | None = None
    site_id: str | None = None
    compatibility: str | None = None
    document: Element | None = None

    def record(self, reply: _Reply) -> CallRecord:
        return CallRecord(
            call=self.call,
            account=self.account,
            page=self.page,
            mod_from=self.mod_from,
            mod_to=self.mod_to,
            entries_per_page=self.entries_per_page,
            detail_level=self.detail_level,
            order_role=self.order_role,
            auth=self.auth,
            site_id=self.site_id,
            compatibility=self.compatibility,
            status=reply.status,
            ack=reply.ack,
            fault=reply.fault,
        )


def _parse_request(body: bytes, call: str | None) -> Element:
    try:
        document = fromstring(body)  # noqa: S314 (requests come from the tests on loopback)
    except ParseError:
        raise _Refused("5", "RequestError", "XML Parse error.") from None
    if document.tag != f"{{{NS}}}{call}Request":
        raise _Refused("90004", "RequestError", "The body does not match the call name.")
    return document


def _time(value: str | None) -> datetime | None:
    if not value or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _int(value: str | None, *, default: int) -> int | None:
    if value is None:
        return default
    return int(value) if value.isdigit() else None


def _header(ack: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><GetOrdersResponse xmlns="{NS}">'
        + _el("Timestamp", _stamp(datetime.now(UTC)))
        + _el("Ack", ack)
        + _el("Version", VERSION)
        + _el("Build", f"E{VERSION}_CORE_APIXO_fake")
    )


def _failure_reply(code: str, classification: str, message: str) -> _Reply:
    body = (
        _header("Failure")
        + "<Errors>"
        + _el("ShortMessage", message)
        + _el("LongMessage", message)
        + _el("ErrorCode", code)
        + _el("SeverityCode", "Error")
        + _el("ErrorClassification", classification)
        + "</Errors></GetOrdersResponse>"
    )
    return _Reply(200, body.encode(), ack="Failure")


def _fault_reply(kind: EbayFault) -> _Reply:
    if kind is EbayFault.HTML_503:
        return _Reply(503, _HTML_503, fault=kind.value, content_type="text/html")
    if kind is EbayFault.EMPTY_BODY:
        return _Reply(200, b"", fault=kind.value)
    if kind is EbayFault.TRUNCATED:
        body = (_header("Success") + "<OrderArray><Order><OrderID>1").encode()
        return _Reply(200, body, fault=kind.value)
    reply = _failure_reply(*_FAILURES[kind])
    reply.fault = kind.value
    return reply


class FakeEbayTrading:
    """The fake Trading API server; a context manager, or `start()`/`stop()`."""

    def __init__(
        self, accounts: Iterable[EbayAccountSpec], *, keys: dict[str, str] | None = None
    ) -> None:
        self.keys = dict(keys or DEFAULT_KEYS)
        self._app = _TradingApp(list(accounts), self.keys)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeEbayTrading:
        app = self._app

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK hold every keep-alive reply back by 40 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply, delay_s = app.handle(self.path, headers, body)
                if delay_s:
                    time.sleep(delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout), as clients do

            def log_message(self, format: str, *args: object) -> None:
                return  # keep test output clean; `records` has every call

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-ebay-trading",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeEbayTrading:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake eBay server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    # -- control ---------------------------------------------------------------------------

    def inject(
        self,
        kind: EbayFault | str,
        *,
        times: int = 1,
        delay_s: float = 0.0,
        cut_after: str | None = None,
    ) -> None:
        """Answer the next `times` requests with `kind` (faults queue in injection order)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._app.lock:
            self._app.faults.append(_Fault(EbayFault(kind), times, delay_s, cut_after))

    def expire_token(self, token: str) -> None:
        """From now on this account's token is refused with 932 (hard expired)."""
        with self._app.lock:
            self._app.accounts[token].expired = True

    def modify(self, token: str, order_id: str, at: datetime) -> None:
        """The order was modified at `at`: it moves to that place in modification order."""
        with self._app.lock:
            self._app.accounts[token].modify(order_id, at)

    # -- inspection ------------------------------------------------------------------------

    def orders(self, token: str | None = None) -> list[FakeEbayOrder]:
        with self._app.lock:
            accounts = [self._app.accounts[token]] if token else self._app.accounts.values()
            return [o for a in accounts for o in a.orders]

    @property
    def records(self) -> list[CallRecord]:
        with self._app.lock:
            return list(self._app.records)

    def count(self, *, account: str | None = None, call: str | None = "GetOrders") -> int:
        return sum(
            1
            for r in self.records
            if (account is None or r.account == account) and (call is None or r.call == call)
        )

    def pending_faults(self) -> int:
        with self._app.lock:
            return sum(f.remaining for f in self._app.faults)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token", default="v^1.1#i^1#fake-demo-token")
    args = parser.parse_args(argv)
    spec = EbayAccountSpec(token=args.token, orders=args.orders, seed=args.seed, name="demo")
    with FakeEbayTrading([spec]) as fake:
        print(json.dumps({"url": fake.url, "token": spec.token, **fake.keys}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
