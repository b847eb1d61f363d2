"""Fuzzing Amazon payloads from the official models, through the store path a pull uses.

Pages of orders built from the Swagger definitions in `connectors/fakes/spapi_models` (valid,
and broken in one place each) go through the real mapping (`map_v2026`, `map_v0`) into a real
pull's store step on a throwaway SQLite deployment. Each payload is either stored, opening back
to the same PII through the audited path, or quarantined with a reason naming a field; nothing
escapes the pull, and no buyer canary is ever in a reason, a log line or the database files in
clear. The HTTP layer gets the same treatment: whatever bytes Amazon answers with, a pull ends
in pages or in the connector's one error type, with a message that quotes nothing it received.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.amazon import (
    AmazonAccountSettings,
    AmazonConnector,
    MappingContext,
    RetryPolicy,
    map_v0,
    map_v2026,
)
from connectors.amazon.lifetimes import MAX_LIFETIME_S, accepted_lifetime_s
from connectors.amazon.lwa import LwaTokens
from connectors.amazon.rdt import RestrictedDataTokens
from connectors.errors import ConnectorError
from connectors.fakes.models import models_dir
from connectors.fakes.schema import SwaggerSchemas
from connectors.order import Order
from connectors.page import Page
from connectors.quarantine import QuarantineItem
from tests.connectors.amazon.helpers import RecordingLimiter, SteppingClock
from tests.reliability.fuzz_harness import (
    NOW,
    Deployment,
    check_stored_or_quarantined,
    open_deployment,
)
from tests.reliability.schema_strategies import CANARY, Broken, SchemaStrategies

V2026_DOCUMENT = json.loads((models_dir() / "orders_2026-01-01.json").read_text(encoding="utf-8"))
V0_DOCUMENT = json.loads((models_dir() / "ordersV0.json").read_text(encoding="utf-8"))
CTX = MappingContext(client_id="acme", account="acme-eu", observed_at=NOW)

# Buyer and recipient strings are canaries; the country code and address type are kept in
# clear on purpose (reports and routing), so they are not.
_ADDRESS_V2026 = frozenset(
    {
        "name",
        "companyName",
        "addressLine1",
        "addressLine2",
        "addressLine3",
        "city",
        "districtOrCounty",
        "stateOrRegion",
        "municipality",
        "postalCode",
        "phone",
        "extendedFields",
    }
)
V2026 = SchemaStrategies(
    V2026_DOCUMENT,
    pii={
        "Buyer": frozenset({"*"}),
        "CustomerAddress": _ADDRESS_V2026,
        "AddressExtendedFields": frozenset({"*"}),
        "Recipient": frozenset({"deliveryPreference"}),
        "OrderTaxRegistration": frozenset(
            {"legalName", "taxRegistrationNumber", "taxRegistrationAttributes"}
        ),
        "GiftOption": frozenset({"giftMessage"}),
        "ItemCustomization": frozenset({"customizedUrl"}),
    },
    kinds={
        "amount": "decimal",
        "currencyCode": "currency",
        "countryCode": "country",
        "orderId": "order-id",
        "orderItemId": "item-id",
        "buyerEmail": "email",
    },
    overrides={"entityType": st.sampled_from(["BUYER", "SELLER"])},
    # searchOrders is called with includedData=FULFILLMENT: Amazon then always sends it.
    always=frozenset({"fulfillment"}),
)
_DATES_V0 = (
    "PurchaseDate",
    "LastUpdateDate",
    "EarliestShipDate",
    "LatestShipDate",
    "EarliestDeliveryDate",
    "LatestDeliveryDate",
    "PromiseResponseDueDate",
    "ScheduledDeliveryStartDate",
    "ScheduledDeliveryEndDate",
)
V0 = SchemaStrategies(
    V0_DOCUMENT,
    pii={
        "BuyerInfo": frozenset({"*"}),
        "Address": frozenset({n[0].upper() + n[1:] for n in _ADDRESS_V2026 - {"districtOrCounty"}})
        | {"County", "District"},
        "AddressExtendedFields": frozenset({"*"}),
        "BuyerTaxInformation": frozenset({"*"}),
        "BuyerTaxInfo": frozenset({"CompanyLegalName", "TaxingRegion"}),
        "TaxClassification": frozenset({"Value"}),
        "ItemBuyerInfo": frozenset({"GiftMessageText", "BuyerCustomizedInfo"}),
    },
    kinds={
        "Amount": "decimal",
        "CurrencyCode": "currency",
        "CountryCode": "country",
        "AmazonOrderId": "order-id",
        "OrderItemId": "item-id",
        "BuyerEmail": "email",
        **dict.fromkeys(_DATES_V0, "date-time"),
    },
    # Large subtrees nothing reads, left out to keep examples small and fast.
    skip=frozenset(
        {"PaymentExecutionDetail", "FulfillmentInstruction", "AutomatedShippingSettings"}
        | {"DefaultShipFromLocationAddress", "SubstitutionPreferences", "Measurement"}
    ),
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # caplog; the deployment is reset per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _value(payload: Any) -> Any:
    return payload.value if isinstance(payload, Broken) else payload


def _order_id(payload: Any, key: str) -> object:
    value = _value(payload)
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else object()


def _pages_of(strategy: st.SearchStrategy[Any], key: str) -> st.SearchStrategy[list[Any]]:
    # One version of each order per page: the store keeps the last, which a shredded first
    # version would refuse (on purpose), and the assertions would have to guess.
    return st.lists(strategy, min_size=1, max_size=3, unique_by=lambda p: _order_id(p, key))


def _page(results: list[Order | QuarantineItem]) -> Page:
    """The page the connector's walk yields for these mapping results."""
    return Page(
        orders=tuple(r for r in results if isinstance(r, Order)),
        quarantined=tuple(r for r in results if isinstance(r, QuarantineItem)),
        state={},
        position_at=NOW,
        done=True,
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with open_deployment(tmp_path_factory.mktemp("amazon") / "deploy") as opened:
        yield opened


def _no_canary_logged(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert CANARY not in logged
    caplog.clear()


# -- v2026-01-01 searchOrders -----------------------------------------------------------------


def test_the_v2026_strategies_follow_the_official_schema() -> None:
    schemas = SwaggerSchemas(V2026_DOCUMENT)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(V2026.valid("Order"))
    def valid(raw: dict[str, Any]) -> None:
        schemas.validate(raw, "Order")

    valid()


@FUZZ
@given(payloads=_pages_of(V2026.valid("Order"), "orderId"))
def test_v2026_valid_orders_are_stored_and_open_back_to_the_same_pii(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, payloads: list
) -> None:
    caplog.set_level(logging.DEBUG)
    page = _page([map_v2026(raw, CTX) for raw in payloads])
    assert page.quarantined == ()
    deployment.reset()
    report = check_stored_or_quarantined(
        deployment, deployment.client.amazon[0], page, marketplace="amazon", payloads=len(payloads)
    )
    assert report.created == len(payloads)
    _no_canary_logged(caplog)


@FUZZ
@given(payloads=_pages_of(V2026.broken("Order") | V2026.valid("Order"), "orderId"))
def test_v2026_broken_orders_are_stored_or_quarantined_never_raised(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, payloads: list
) -> None:
    caplog.set_level(logging.DEBUG)
    page = _page([map_v2026(_value(raw), CTX) for raw in payloads])
    deployment.reset()
    check_stored_or_quarantined(
        deployment, deployment.client.amazon[0], page, marketplace="amazon", payloads=len(payloads)
    )
    _no_canary_logged(caplog)


@pytest.mark.parametrize(
    "field", ["orderId", "createdTime", "lastUpdatedTime", "salesChannel", "orderItems"]
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=V2026.valid("Order"), damage=st.sampled_from(["drop", None, 17, ["x"]]))
def test_a_required_v2026_field_that_is_missing_or_mistyped_is_named(
    field: str, raw: dict[str, Any], damage: object
) -> None:
    if damage == "drop":
        del raw[field]
    else:
        raw[field] = damage
    item = map_v2026(raw, CTX)
    assert isinstance(item, QuarantineItem)
    assert item.field == field or item.field.startswith(f"{field}[")
    assert item.reason.startswith("payload: ")


# -- v0 getOrders + getOrderItems -------------------------------------------------------------


@st.composite
def v0_orders(draw: st.DrawFn, broken: bool) -> tuple[Any, list[Any]]:
    """A getOrders order and what getOrderItems returned for it; maybe one of them broken."""
    order = V0.broken("Order") | V0.valid("Order") if broken else V0.valid("Order")
    item = V0.broken("OrderItem") | V0.valid("OrderItem") if broken else V0.valid("OrderItem")
    return draw(order), draw(st.lists(item, max_size=2))


def _v0_page(bundles: list[tuple[Any, list[Any]]]) -> Page:
    return _page([map_v0(_value(o), [_value(i) for i in items], CTX) for o, items in bundles])


def test_the_v0_strategies_follow_the_official_schema() -> None:
    schemas = SwaggerSchemas(V0_DOCUMENT)

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(v0_orders(broken=False))
    def valid(bundle: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        order, items = bundle
        schemas.validate(order, "Order")
        for item in items:
            schemas.validate(item, "OrderItem")

    valid()


@FUZZ
@given(
    bundles=st.lists(
        v0_orders(broken=False),
        min_size=1,
        max_size=2,
        unique_by=lambda b: _order_id(b[0], "AmazonOrderId"),
    )
)
def test_v0_valid_orders_are_stored_and_open_back_to_the_same_pii(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, bundles: list
) -> None:
    caplog.set_level(logging.DEBUG)
    page = _v0_page(bundles)
    assert page.quarantined == ()
    deployment.reset()
    check_stored_or_quarantined(
        deployment, deployment.client.amazon[0], page, marketplace="amazon", payloads=len(bundles)
    )
    _no_canary_logged(caplog)


@FUZZ
@given(
    bundles=st.lists(
        v0_orders(broken=True),
        min_size=1,
        max_size=2,
        unique_by=lambda b: _order_id(b[0], "AmazonOrderId"),
    )
)
def test_v0_broken_orders_and_items_are_stored_or_quarantined_never_raised(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, bundles: list
) -> None:
    caplog.set_level(logging.DEBUG)
    page = _v0_page(bundles)
    deployment.reset()
    check_stored_or_quarantined(
        deployment, deployment.client.amazon[0], page, marketplace="amazon", payloads=len(bundles)
    )
    _no_canary_logged(caplog)


# -- the HTTP layer: whatever Amazon answers ----------------------------------------------------

LWA_HOST = "api.amazon.com"
_EMPTY_PAGE = b'{"orders": []}'
_V0_EMPTY_PAGE = b'{"payload": {"Orders": []}}'
_V0_NO_ITEMS = b'{"payload": {"OrderItems": []}}'
_TOKEN = b'{"access_token": "Atza|fuzz", "token_type": "bearer", "expires_in": 3600}'
_RDT = b'{"restrictedDataToken": "Atz.sprdt|fuzz", "expiresIn": 3600}'


class Amazon:
    """Answers for one pull: `first` to the first orders call, then empty pages; `items` to
    every getOrderItems call (v0).

    Every request goes through `handle` (the patched httpx transport); one that loops (a
    token renewed forever) fails the test instead of hanging it.
    """

    def __init__(
        self,
        first: tuple[int, bytes],
        *,
        lwa: bytes = _TOKEN,
        v0: bool = False,
        items: tuple[int, bytes] = (200, _V0_NO_ITEMS),
    ) -> None:
        self.first: tuple[int, bytes] | None = first
        self.lwa = lwa
        self.v0 = v0
        self.items = items
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert self.requests < 40, "the connector keeps calling: a loop"
        if request.url.host == LWA_HOST:
            return httpx.Response(200, content=self.lwa, request=request)
        if request.url.path.endswith("/restrictedDataToken"):
            return httpx.Response(200, content=_RDT, request=request)
        if request.url.path.endswith("/orderItems"):
            return httpx.Response(self.items[0], content=self.items[1], request=request)
        status, body = self.first or (200, _V0_EMPTY_PAGE if self.v0 else _EMPTY_PAGE)
        self.first = None
        return httpx.Response(status, content=body, request=request)


class Connectors:
    """One connector per Orders API for a whole test module: building one loads the system's
    CA bundle four times (a quarter of a second), a pull through a patched transport takes
    milliseconds. Each pull starts without tokens, as a new worker would."""

    def __init__(self) -> None:
        self.clock = SteppingClock(now_at=NOW)
        # Usage plans are not under test here; a limiter that never waits keeps it that way.
        limiter = RecordingLimiter()
        self.by_api = {
            api: AmazonConnector(
                AmazonAccountSettings(
                    client_id="acme",
                    account="acme-eu",
                    region="eu",
                    marketplace_ids=("A1PA6795UKMFR9",),
                    refresh_token="Atzr|fuzz",
                    lwa_client_id="amzn1.application-oa2-client.fuzz",
                    lwa_client_secret="fuzz-secret",
                    orders_api=api,
                ),
                limiter=limiter,
                clock=self.clock.now,
                sleep=self.clock.sleep,
                retry=RetryPolicy(max_attempts=2, base_delay_s=1.0),
            )
            for api in ("2026-01-01", "v0")
        }

    def pull(self, amazon: Amazon, api: str = "2026-01-01") -> list[Page]:
        connector = self.by_api[api]
        connector.lwa.invalidate()
        if api == "v0":
            connector.v0.rdt.invalidate()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx.HTTPTransport, "handle_request", lambda _, r: amazon.handle(r))
            return list(connector.pull(since=self.clock.now() - timedelta(days=30)))

    def close(self) -> None:
        for connector in self.by_api.values():
            connector.close()


@pytest.fixture(scope="module")
def connectors() -> Iterator[Connectors]:
    made = Connectors()
    yield made
    made.close()


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    keys = st.sampled_from(
        ["orders", "Orders", "payload", "errors", "headers", "pagination", "nextToken", "x"]
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


@st.composite
def answers(draw: st.DrawFn, page: st.SearchStrategy[bytes]) -> tuple[int, bytes]:
    """An HTTP status and a body: a page, cut off, HTML, an error list, odd JSON, noise."""
    status = draw(st.sampled_from([400, 403, 404, 429, 500, 503]) | st.just(200))
    good = draw(page)
    error = json.dumps(
        {"errors": [{"code": "InvalidInput", "message": f"{CANARY}00000000 is not allowed"}]}
    ).encode()
    body = draw(
        st.just(good)
        | st.just(error)
        | st.builds(lambda cut: good[: max(1, len(good) * cut // 100)], st.integers(1, 99))
        | st.just(
            b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1>"
            + f"<p>{CANARY}00000000</p></body></html>".encode()
        )
        | st.binary(max_size=64)
        | _json_values().map(lambda v: json.dumps(v).encode())
        | st.integers(900, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
    )
    return status, body


def _json_of(wrap: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda values: json.dumps(wrap([_value(v) for v in values])).encode())


V2026_PAGES = _json_of(
    lambda orders: {"orders": orders},
    st.lists(V2026.broken("Order") | V2026.valid("Order"), min_size=1, max_size=2),
)
V0_PAGES = _json_of(
    lambda orders: {"payload": {"Orders": orders}},
    st.lists(V0.broken("Order") | V0.valid("Order"), min_size=1, max_size=2),
)
# getOrderItems entries: items, broken items, and entries that are no object at all.
V0_ITEMS = _json_of(
    lambda items: {"payload": {"OrderItems": items}},
    st.lists(
        V0.broken("OrderItem") | V0.valid("OrderItem") | st.sampled_from(["x", 5, None, []]),
        max_size=2,
    ),
)


def _check_error(error: ConnectorError) -> None:
    assert isinstance(error.message, str)
    assert error.message
    assert CANARY not in str(error)
    assert "<" not in error.message, "an error quotes the body"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(answer=answers(V2026_PAGES))
def test_any_answer_to_search_orders_ends_in_pages_or_a_connector_error(
    connectors: Connectors, answer: tuple[int, bytes]
) -> None:
    try:
        pages = connectors.pull(Amazon(answer))
    except ConnectorError as error:
        _check_error(error)
        return
    assert pages[-1].done
    for page in pages:
        for item in page.quarantined:
            assert CANARY not in item.field + item.reason


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(orders=answers(V0_PAGES), items=answers(V0_ITEMS))
def test_any_answer_to_get_orders_v0_and_its_items_ends_in_pages_or_a_connector_error(
    connectors: Connectors, orders: tuple[int, bytes], items: tuple[int, bytes]
) -> None:
    try:
        pages = connectors.pull(Amazon(orders, v0=True, items=items), api="v0")
    except ConnectorError as error:
        _check_error(error)
        return
    assert pages[-1].done
    for page in pages:
        for item in page.quarantined:
            assert CANARY not in item.field + item.reason


def test_an_order_item_that_is_not_an_object_quarantines_its_order() -> None:
    raw = {
        "AmazonOrderId": "902-1845936-5435065",
        "PurchaseDate": "2026-01-20T19:49:35Z",
        "LastUpdateDate": "2026-01-20T19:49:35Z",
        "OrderStatus": "Unshipped",
    }
    item = map_v0(raw, [{"ASIN": "B0", "OrderItemId": "1", "QuantityOrdered": 1}, "junk"], CTX)
    assert isinstance(item, QuarantineItem)
    assert (item.field, item.reason) == ("orderItems[1]", "payload: expected an object")
    assert json.loads(item.payload)["orderItems"][1] == "junk"


_LIFETIMES = [3600, 1, 30, 59, 0, -1, 10**20, 2**63, "3600", 3600.0, True, None, [3600]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=st.sampled_from(["Atza|fuzz", "", None, 7, ["Atza|fuzz"]]),
    expires_in=st.sampled_from(_LIFETIMES),
    extra=st.dictionaries(st.sampled_from(["error", "errors", "headers"]), st.text(max_size=4)),
)
def test_any_login_with_amazon_answer_ends_in_a_pull_or_a_connector_error(
    connectors: Connectors, token: object, expires_in: object, extra: dict[str, str]
) -> None:
    body = json.dumps({"access_token": token, "expires_in": expires_in, **extra}).encode()
    amazon = Amazon((200, _EMPTY_PAGE), lwa=body)
    try:
        pages = connectors.pull(amazon)
    except ConnectorError as error:
        _check_error(error)
        usable = isinstance(token, str) and token and accepted_lifetime_s(expires_in) is not None
        assert not usable or extra.get("errors"), "a usable token was refused"
        return
    assert [p.done for p in pages] == [True]
    assert amazon.requests == 2  # one token, one page: a short-lived token is not renewed in a loop


@pytest.mark.parametrize(
    ("stated", "used"),
    [
        (3600, 3600),
        (1, 1),
        (10**20, MAX_LIFETIME_S),
        (0, None),
        (-5, None),
        ("60", None),
        (True, None),
    ],
)
def test_a_tokens_stated_lifetime_is_used_within_reason(stated: object, used: int | None) -> None:
    assert accepted_lifetime_s(stated) == used


def test_a_short_lived_restricted_data_token_is_reused_not_minted_per_call() -> None:
    clock = SteppingClock(now_at=NOW)
    minted: list[int] = []

    def mint() -> tuple[str, int]:
        minted.append(1)
        return f"rdt-{len(minted)}", 120  # shorter than the five minutes' renewal margin

    tokens = RestrictedDataTokens(mint, clock=clock.now)
    assert {tokens.current() for _ in range(5)} == {"rdt-1"}
    clock.sleep(61)
    assert tokens.current() == "rdt-2"


def test_lwa_tokens_with_absurd_lifetimes_do_not_overflow() -> None:
    settings_ = AmazonAccountSettings(
        client_id="acme",
        account="acme-eu",
        region="eu",
        marketplace_ids=("A1PA6795UKMFR9",),
        refresh_token="Atzr|fuzz",
        lwa_client_id="id",
        lwa_client_secret="secret",
    )
    body = json.dumps({"access_token": "Atza|x", "expires_in": 10**20}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    clock = SteppingClock(now_at=NOW)
    with httpx.Client(transport=transport) as http:
        tokens = LwaTokens(settings_, clock=clock.now, http=http)
        assert tokens.access_token() == "Atza|x"
        clock.sleep(MAX_LIFETIME_S)
        assert tokens.needs_refresh()
