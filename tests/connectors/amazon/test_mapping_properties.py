"""Mapping never crashes on schema-valid payloads, and PII never lands outside the PII part."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.amazon import MappingContext, QuarantineItem, map_v0, map_v2026
from connectors.classify import canonical_json, split
from connectors.fakes.schema import SwaggerSchemas
from connectors.order import Order
from tests.connectors.amazon.helpers import model
from tests.connectors.amazon.strategies import PII_TAG, payloads

V2026 = model("orders_2026-01-01.json")
V0 = model("ordersV0.json")
CTX = MappingContext(
    client_id="acme", account="acme-eu", observed_at=datetime(2026, 3, 1, tzinfo=UTC)
)
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _check(result: Order | QuarantineItem) -> None:
    if isinstance(result, Order):
        clear, _ = split(result)
        assert PII_TAG.encode() not in canonical_json(clear)
    else:
        assert PII_TAG not in result.reason
        assert PII_TAG not in result.field
        assert result.reason.startswith(("payload: ", "canonical order: "))


@PROPERTY_SETTINGS
@given(payloads(V2026, "Order"))
def test_v2026_schema_valid_payloads_map_or_quarantine(raw: dict[str, Any]) -> None:
    assert SwaggerSchemas(V2026).is_valid(raw, "Order")
    _check(map_v2026(raw, CTX))


@PROPERTY_SETTINGS
@given(payloads(V0, "Order"), st.lists(payloads(V0, "OrderItem"), max_size=3))
def test_v0_schema_valid_payloads_map_or_quarantine(
    raw: dict[str, Any], items: list[dict[str, Any]]
) -> None:
    assert SwaggerSchemas(V0).is_valid(raw, "Order")
    _check(map_v0(raw, items, CTX))


def test_the_strategies_produce_orders_as_well_as_quarantine_items() -> None:
    """Guards the two tests above against only ever exercising one branch."""
    seen: set[type] = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payloads(V2026, "Order"))
    def collect(raw: dict[str, Any]) -> None:
        seen.add(type(map_v2026(raw, CTX)))

    collect()
    assert seen == {Order, QuarantineItem}
