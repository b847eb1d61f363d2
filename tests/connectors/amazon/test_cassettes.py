"""Recorded HTTP (vcrpy) of whole pulls against the fake SP-API, replayed without any server.

Cassettes live in `cassettes/`, recorded with tokens and secrets scrubbed. To re-record (after
changing what the connector sends): `ORDERVAULT_RECORD_CASSETTES=1 pytest tests/connectors/amazon/
test_cassettes.py`; otherwise they are only replayed, and a request they do not hold fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import vcr
import yaml  # type: ignore[import-untyped]

from connectors.amazon import AmazonAccountSettings, Page
from connectors.fakes import FakeSpApi, FaultKind, SellerSpec
from connectors.fakes.amazon_orders import synthetic_orders
from connectors.fakes.models import load_models
from tests.connectors.amazon.helpers import (
    SINCE,
    SteppingClock,
    cassette_path,
    connector,
    settings_for,
)

RECORD = os.environ.get("ORDERVAULT_RECORD_CASSETTES") == "1"
REPLAY_URL = "http://127.0.0.1:9"  # nothing listens there: replay must not need a server
SCRUBBED = "SCRUBBED"
_FORM_SECRETS = ("refresh_token", "client_id", "client_secret")
_BODY_SECRETS = ("access_token", "refresh_token", "restrictedDataToken")
_RESPONSE_DEFINITIONS = {
    "orders.searchOrders": ("orders", "SearchOrdersResponse"),
    "ordersV0.getOrders": ("ordersV0", "GetOrdersResponse"),
    "ordersV0.getOrderItems": ("ordersV0", "GetOrderItemsResponse"),
    "tokens.createRestrictedDataToken": ("tokens", "CreateRestrictedDataTokenResponse"),
}

Start = Callable[..., FakeSpApi]


def _scrub_request(request: Any) -> Any:
    if request.body and b"grant_type=" in request.body:
        form = [
            (key, SCRUBBED if key in _FORM_SECRETS else value)
            for key, value in parse_qsl(request.body.decode())
        ]
        request.body = urlencode(form).encode()
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    try:
        document = json.loads(response["body"]["string"])
    except (ValueError, TypeError):
        return response  # an HTML 503, a truncated body: nothing secret, kept as they are
    if isinstance(document, dict) and any(key in document for key in _BODY_SECRETS):
        for key in _BODY_SECRETS:
            if key in document:
                document[key] = SCRUBBED
        response["body"]["string"] = json.dumps(document).encode()
    return response


RECORDER = vcr.VCR(
    record_mode="all" if RECORD else "none",
    # The fake's port changes every run; everything else about a request must match.
    match_on=["method", "scheme", "host", "path", "query"],
    filter_headers=["authorization", "x-amz-access-token"],
    before_record_request=_scrub_request,
    before_record_response=_scrub_response,
    decode_compressed_response=True,
)


@pytest.fixture
def recorded(fake_spapi: Start) -> Callable[..., AmazonAccountSettings]:
    """Settings for `seller`: against a fresh fake when recording, a dead port when replaying."""

    def settings(
        seller: SellerSpec, name: str, *, faults: tuple[FaultKind, ...] = (), **kwargs: Any
    ) -> AmazonAccountSettings:
        if not RECORD:
            if not cassette_path(name).exists():
                pytest.fail(f"cassette {name} missing: record with ORDERVAULT_RECORD_CASSETTES=1")
            return settings_for(
                seller, endpoint=REPLAY_URL, lwa_endpoint=REPLAY_URL + "/auth/o2/token", **kwargs
            )
        cassette_path(name).unlink(missing_ok=True)
        fake = fake_spapi(seller, enforce_plans=False)
        for kind in faults:
            fake.faults.inject(kind, operation="orders.searchOrders")
        return settings_for(seller, endpoint=fake.url, lwa_endpoint=fake.lwa_url, **kwargs)

    return settings


def _pull(settings: AmazonAccountSettings, name: str, **kwargs: Any) -> list[Page]:
    with (
        RECORDER.use_cassette(str(cassette_path(name))),
        connector(settings, SteppingClock(), **kwargs) as amazon,
    ):
        return list(amazon.pull(since=SINCE))


def _interactions(name: str) -> list[dict[str, Any]]:
    text = cassette_path(name).read_text(encoding="utf-8")
    interactions: list[dict[str, Any]] = yaml.safe_load(text)["interactions"]
    return interactions


def _assert_scrubbed_and_valid(name: str, seller: SellerSpec) -> None:
    text = cassette_path(name).read_text(encoding="utf-8")
    for secret in (seller.refresh_token, seller.lwa_client_secret, "Atza|", "Atz.sprdt|"):
        assert secret not in text
    assert "x-amz-access-token" not in text.lower()
    models = load_models()
    checked = 0
    for interaction in _interactions(name):
        request, response = interaction["request"], interaction["response"]
        routed = models.route(request["method"], urlsplit(request["uri"]).path)
        if routed is None or response["status"]["code"] != 200:
            continue
        try:
            document = json.loads(response["body"]["string"])
        except ValueError:
            continue  # the truncated body of a fault
        api, definition = _RESPONSE_DEFINITIONS[routed[0].name]
        models.schemas[api].validate(document, definition)
        checked += 1
    assert checked > 0


def _expected_ids(seller: SellerSpec) -> set[str]:
    orders = synthetic_orders(
        count=seller.orders,
        seed=seller.seed,
        marketplace_ids=seller.marketplace_ids,
        start=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return {o.order_id for o in orders}


def test_v2026_paged_pull(recorded: Callable[..., AmazonAccountSettings]) -> None:
    seller, name = SellerSpec(orders=23, seed=21), "v2026_paged_pull"
    pages = _pull(recorded(seller, name), name, page_size=10)
    assert [len(p.orders) for p in pages] == [10, 10, 3]
    assert {o.marketplace_order_id for p in pages for o in p.orders} == _expected_ids(seller)
    assert any(o.buyer and o.buyer.email for p in pages for o in p.orders)
    _assert_scrubbed_and_valid(name, seller)


def test_v0_pull_with_one_restricted_data_token(
    recorded: Callable[..., AmazonAccountSettings],
) -> None:
    seller, name = SellerSpec(orders=8, seed=22), "v0_pull_with_rdt"
    pages = _pull(recorded(seller, name, api="v0"), name, page_size=5)
    assert {o.marketplace_order_id for p in pages for o in p.orders} == _expected_ids(seller)
    paths = [urlsplit(i["request"]["uri"]).path for i in _interactions(name)]
    assert paths.count("/tokens/2021-03-01/restrictedDataToken") == 1
    assert sum(p.endswith("/orderItems") for p in paths) == 8
    _assert_scrubbed_and_valid(name, seller)


def test_v2026_faults_then_success(recorded: Callable[..., AmazonAccountSettings]) -> None:
    seller, name = SellerSpec(orders=6, seed=23), "v2026_faults"
    faults = (FaultKind.HTML_503, FaultKind.THROTTLE_EMPTY, FaultKind.TRUNCATED)
    (page,) = _pull(recorded(seller, name, faults=faults), name)
    assert len(page.orders) == 6
    statuses = [
        i["response"]["status"]["code"]
        for i in _interactions(name)
        if urlsplit(i["request"]["uri"]).path == "/orders/2026-01-01/orders"
    ]
    assert statuses == [503, 429, 200, 200]
    _assert_scrubbed_and_valid(name, seller)
