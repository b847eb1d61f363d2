"""The fake SP-API behaves like Amazon where the connector depends on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.fakes import FakeSpApi, FaultKind, SellerSpec
from connectors.fakes.amazon_orders import synthetic_orders
from connectors.fakes.amazon_views import view_v0, view_v0_items, view_v2026
from connectors.fakes.models import load_models
from connectors.fakes.schema import SchemaError, SwaggerSchemas
from connectors.ratelimit import AMAZON_USAGE_PLANS
from tests.connectors.amazon.helpers import model

Start = Callable[..., FakeSpApi]
SEARCH = "/orders/2026-01-01/orders"
RANGE = {"lastUpdatedAfter": "2025-12-01T00:00:00Z", "lastUpdatedBefore": "2026-02-28T00:00:00Z"}


# One client for the module: building one per request costs an SSL context each time.
HTTP = httpx.Client(timeout=5)


def _token(fake: FakeSpApi, seller: SellerSpec | None = None) -> str:
    seller = seller or fake.seller()
    response = HTTP.post(
        fake.lwa_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": seller.refresh_token,
            "client_id": seller.lwa_client_id,
            "client_secret": seller.lwa_client_secret,
        },
    )
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


def _get(fake: FakeSpApi, path: str, token: str, **params: Any) -> httpx.Response:
    return HTTP.get(fake.url + path, params=params, headers={"x-amz-access-token": token})


def test_usage_plans_in_the_models_match_the_connectors_table() -> None:
    models = load_models()
    for name, plan in AMAZON_USAGE_PLANS.items():
        operation = models.operation(name)
        assert (operation.rate_per_s, operation.burst) == (plan.rate_per_s, plan.burst), name


@pytest.mark.parametrize(
    ("definition", "document", "mutate"),
    [
        ("Order", "orders_2026-01-01.json", lambda o: o.pop("orderId")),
        ("Order", "orders_2026-01-01.json", lambda o: o.update(createdTime="25 Dec 2024")),
        (
            "Order",
            "orders_2026-01-01.json",
            lambda o: o["orderItems"][0].update(quantityOrdered="1"),
        ),
        (
            "Order",
            "orders_2026-01-01.json",
            lambda o: o["fulfillment"].update(fulfillmentStatus="X"),
        ),
    ],
)
def test_the_schema_validator_rejects_what_the_schema_forbids(
    definition: str, document: str, mutate: Callable[[dict[str, Any]], object]
) -> None:
    schemas = SwaggerSchemas(model(document))
    order = synthetic_orders(
        count=1, seed=4, marketplace_ids=("A1PA6795UKMFR9",), start=datetime(2026, 1, 1, tzinfo=UTC)
    )[0]
    raw = view_v2026(order, frozenset({"FULFILLMENT", "BUYER"}))
    schemas.validate(raw, definition)
    mutate(raw)
    with pytest.raises(SchemaError):
        schemas.validate(raw, definition)


def test_synthetic_orders_validate_against_the_official_schemas_in_every_view() -> None:
    orders = synthetic_orders(
        count=300,
        seed=11,
        marketplace_ids=("A1PA6795UKMFR9", "A2Q3Y263D00KWC", "A1F83G8C2ARO7P"),
        start=datetime(2026, 1, 1, tzinfo=UTC),
    )
    v2026, v0 = (
        SwaggerSchemas(model("orders_2026-01-01.json")),
        SwaggerSchemas(model("ordersV0.json")),
    )
    everything = frozenset({"BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES", "TAX"})
    v2026.validate({"orders": [view_v2026(o, everything) for o in orders]}, "SearchOrdersResponse")
    for restricted in (True, False):
        views = [view_v0(o, buyer_info=restricted, shipping_address=restricted) for o in orders]
        v0.validate({"payload": {"Orders": views}}, "GetOrdersResponse")
        for order in orders:
            items = view_v0_items(order, buyer_info=restricted)
            v0.validate(
                {"payload": {"AmazonOrderId": "x", "OrderItems": items}}, "GetOrderItemsResponse"
            )
    # The mix the mapping must cope with is really there.
    assert any("recipient" not in o.full and "buyer" in o.full for o in orders)  # FBA
    assert any(
        "phone" not in o.full.get("recipient", {}).get("deliveryAddress", {"phone": 1})
        for o in orders
    )
    assert any("tax" in o.full for o in orders)
    assert any(o.easy_ship_status == "Delivered" for o in orders)


def test_same_seed_same_orders() -> None:
    def make(seed: int) -> list[str]:
        return [
            o.order_id
            for o in synthetic_orders(
                count=20,
                seed=seed,
                marketplace_ids=("A1PA6795UKMFR9",),
                start=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]

    assert make(1) == make(1)
    assert make(1) != make(2)


def test_sandbox_examples_are_served_as_they_are(fake_spapi: Start) -> None:
    fake = fake_spapi(enforce_plans=False)
    token = _token(fake)
    v0 = model("ordersV0.json")
    for example in v0["paths"]["/orders/v0/orders"]["get"]["responses"]["200"][
        "x-amzn-api-sandbox"
    ]["static"]:
        params = {
            k: ",".join(v["value"]) if isinstance(v["value"], list) else v["value"]
            for k, v in example["request"]["parameters"].items()
        }
        response = _get(fake, "/orders/v0/orders", token, **params)
        assert response.json() == example["response"]
    v2026 = model("orders_2026-01-01.json")
    example = v2026["paths"]["/orders/2026-01-01/orders/{orderId}"]["get"]["responses"]["200"][
        "x-amzn-api-sandbox"
    ]["static"][0]
    order_id = example["request"]["parameters"]["orderId"]["value"]
    included = ",".join(example["request"]["parameters"]["includedData"]["value"])
    response = _get(fake, f"/orders/2026-01-01/orders/{order_id}", token, includedData=included)
    assert response.json() == example["response"]
    bad = _get(fake, "/orders/v0/orders/TEST_CASE_400/orderItems", token)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "InvalidInput"


def test_lwa_refuses_wrong_credentials(fake_spapi: Start) -> None:
    fake = fake_spapi()
    seller = fake.seller()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": seller.refresh_token,
        "client_id": seller.lwa_client_id,
        "client_secret": "wrong",
    }
    assert HTTP.post(fake.lwa_url, data=form).json()["error"] == "invalid_client"
    form |= {"client_secret": seller.lwa_client_secret, "refresh_token": "Atzr|unknown"}
    assert HTTP.post(fake.lwa_url, data=form).json()["error"] == "invalid_grant"
    assert _get(fake, SEARCH, "Atza|forged", **RANGE).status_code == 403


def test_search_orders_pages_are_bound_to_their_query(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=25, seed=2), enforce_plans=False)
    token = _token(fake)
    first = _get(fake, SEARCH, token, maxResultsPerPage=10, **RANGE).json()
    assert len(first["orders"]) == 10
    page_token = first["pagination"]["nextToken"]
    changed = _get(fake, SEARCH, token, maxResultsPerPage=11, paginationToken=page_token, **RANGE)
    assert changed.status_code == 400
    same = _get(fake, SEARCH, token, maxResultsPerPage=10, paginationToken=page_token, **RANGE)
    assert same.status_code == 200
    assert len(same.json()["orders"]) == 10
    both = _get(fake, SEARCH, token, createdAfter="2025-12-01T00:00:00Z", **RANGE)
    assert both.status_code == 400


def test_pagination_tokens_expire_after_a_day_of_scaled_time(fake_spapi: Start) -> None:
    fake = fake_spapi(
        SellerSpec(orders=15), enforce_plans=False, time_scale=1000, page_token_lifetime_s=100.0
    )
    token = _token(fake)
    first = _get(fake, SEARCH, token, maxResultsPerPage=10, **RANGE).json()
    fake.clock.sleep(150)
    late = _get(
        fake,
        SEARCH,
        token,
        maxResultsPerPage=10,
        paginationToken=first["pagination"]["nextToken"],
        **RANGE,
    )
    assert late.status_code == 400


def test_included_data_decides_what_pii_comes_back(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=40, seed=5), enforce_plans=False)
    token = _token(fake)
    bare = _get(fake, SEARCH, token, **RANGE).json()["orders"]
    assert not any("buyer" in o or "recipient" in o for o in bare)
    full = _get(fake, SEARCH, token, includedData="BUYER,RECIPIENT", **RANGE).json()["orders"]
    assert any("buyer" in o for o in full)
    assert any("recipient" in o for o in full)


def test_v0_pii_needs_a_restricted_data_token_covering_the_resource(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=30, seed=6), enforce_plans=False)
    token = _token(fake)
    params = {"MarketplaceIds": "A1PA6795UKMFR9", "LastUpdatedAfter": "2025-12-01T00:00:00Z"}
    plain = _get(fake, "/orders/v0/orders", token, **params).json()["payload"]["Orders"]
    assert not any("BuyerInfo" in o or "Name" in o.get("ShippingAddress", {}) for o in plain)
    body = {
        "restrictedResources": [
            {
                "method": "GET",
                "path": "/orders/v0/orders",
                "dataElements": ["buyerInfo", "shippingAddress"],
            }
        ]
    }
    minted = HTTP.post(
        fake.url + "/tokens/2021-03-01/restrictedDataToken",
        json=body,
        headers={"x-amz-access-token": token},
    )
    rdt = minted.json()["restrictedDataToken"]
    assert minted.json()["expiresIn"] == 3600
    rich = _get(fake, "/orders/v0/orders", rdt, **params).json()["payload"]["Orders"]
    assert any("BuyerInfo" in o for o in rich)
    assert any("Name" in o.get("ShippingAddress", {}) for o in rich)
    # This RDT does not cover getOrderItems; and RDTs cannot mint RDTs.
    order_id = rich[0]["AmazonOrderId"]
    assert _get(fake, f"/orders/v0/orders/{order_id}/orderItems", rdt).status_code == 403
    again = HTTP.post(
        fake.url + "/tokens/2021-03-01/restrictedDataToken",
        json=body,
        headers={"x-amz-access-token": rdt},
    )
    assert again.status_code == 403
    no_elements = {"restrictedResources": [{"method": "GET", "path": "/orders/v0/orders"}]}
    refused = HTTP.post(
        fake.url + "/tokens/2021-03-01/restrictedDataToken",
        json=no_elements,
        headers={"x-amz-access-token": token},
    )
    assert refused.status_code == 400


def test_the_usage_plan_is_enforced_with_amazons_429(fake_spapi: Start) -> None:
    # Scale 1: within this test no token refills (searchOrders: one per 178 s).
    fake = fake_spapi(SellerSpec(orders=5))
    token = _token(fake)
    statuses = [_get(fake, SEARCH, token, **RANGE).status_code for _ in range(22)]
    assert statuses == [200] * 20 + [429] * 2
    throttled = _get(fake, SEARCH, token, **RANGE)
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "0.0056"
    assert fake.count("orders.searchOrders", status=429) == 3


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "json_body"),
    [
        (FaultKind.THROTTLE, 429, "application/json", True),
        (FaultKind.THROTTLE_EMPTY, 429, "text/plain", False),
        (FaultKind.SERVER_ERROR, 500, "application/json", True),
        (FaultKind.HTML_503, 503, "text/html", False),
    ],
)
def test_faults_look_like_the_real_thing(
    fake_spapi: Start, kind: FaultKind, status: int, content_type: str, json_body: bool
) -> None:
    fake = fake_spapi(SellerSpec(orders=3), enforce_plans=False)
    token = _token(fake)
    fake.faults.inject(kind, operation="orders.searchOrders", times=2)
    for _ in range(2):
        response = _get(fake, SEARCH, token, **RANGE)
        assert response.status_code == status
        assert response.headers["content-type"] == content_type
        if json_body:
            assert response.json()["errors"]
        else:
            with pytest.raises(json.JSONDecodeError):
                response.json()
    assert _get(fake, SEARCH, token, **RANGE).status_code == 200


def test_truncated_and_slow_faults(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=30), enforce_plans=False)
    token = _token(fake)
    fake.faults.inject(FaultKind.TRUNCATED, operation="orders.searchOrders")
    cut = _get(fake, SEARCH, token, **RANGE)
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    fake.faults.inject(FaultKind.SLOW, operation="orders.searchOrders", delay_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            fake.url + SEARCH, params=RANGE, headers={"x-amz-access-token": token}, timeout=0.1
        )


def test_admin_endpoints_serve_a_process_that_did_not_start_the_fake(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=3))
    token = _token(fake)
    HTTP.post(
        fake.url + "/_fake/drain", json={"seller": "seller-1", "operation": "orders.searchOrders"}
    )
    assert _get(fake, SEARCH, token, **RANGE).status_code == 429
    stats = HTTP.get(fake.url + "/_fake/stats").json()["requests"]
    assert stats["orders.searchOrders"] == {"429": 1}
    HTTP.post(fake.url + "/_fake/reset")
    assert HTTP.get(fake.url + "/_fake/stats").json()["requests"] == {}


def test_get_order_serves_synthetic_orders_by_id(fake_spapi: Start) -> None:
    fake = fake_spapi(SellerSpec(orders=5, seed=9), enforce_plans=False)
    token = _token(fake)
    order = fake.orders()[3]
    found = _get(fake, f"/orders/2026-01-01/orders/{order.order_id}", token, includedData="BUYER")
    assert found.status_code == 200
    assert found.json()["order"] == view_v2026(order, frozenset({"BUYER"}))
    missing = _get(fake, "/orders/2026-01-01/orders/999-0000000-0000000", token)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NotFound"
