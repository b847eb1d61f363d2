"""The PII classification of the canonical order: complete, reversible, deterministic."""

from __future__ import annotations

from typing import Annotated

import pytest
from hypothesis import given

from connectors.classify import (
    CLEAR,
    NESTED,
    PII,
    Classified,
    UnclassifiedFieldError,
    canonical_json,
    drop_pii,
    join,
    pii_paths,
    split,
)
from connectors.order import Address, Buyer, Money, Order, OrderItem
from tests.factories import make_order, orders

ALL_MODELS = [Order, OrderItem, Buyer, Address, Money]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_field_of_every_model_is_classified(model: type[Classified]) -> None:
    assert set(model.__classification__) == set(model.model_fields)
    for name, info in model.model_fields.items():
        markers = [m for m in info.metadata if m in (PII, CLEAR, NESTED)]
        assert len(markers) == 1, f"{model.__name__}.{name}"


def test_a_model_with_an_unclassified_field_is_refused_at_definition() -> None:
    with pytest.raises(UnclassifiedFieldError, match=r"Leaky\.note"):

        class Leaky(Classified):
            order_id: Annotated[str, CLEAR]
            note: str


def test_a_field_with_two_markers_is_refused() -> None:
    with pytest.raises(UnclassifiedFieldError, match="exactly one"):

        class Confused(Classified):
            email: Annotated[str, CLEAR, PII]


def test_nested_must_name_a_classified_model() -> None:
    with pytest.raises(UnclassifiedFieldError, match="NESTED"):

        class Wrong(Classified):
            email: Annotated[str, NESTED]


def test_known_pii_fields_land_in_the_pii_part_only() -> None:
    order = make_order()
    clear, pii = split(order)
    clear_bytes = canonical_json(clear)
    for value in ("Erika", "erika@example.invalid", "Heidestrasse", "51147", "+49", "birthday"):
        assert value.encode() not in clear_bytes
        assert value.encode() in canonical_json(pii)
    # Non-PII stays queryable in clear.
    assert clear["marketplace_order_id"] == "028-1234567-1234567"
    assert clear["shipping_address"]["country_code"] == "DE"
    assert clear["items"][0]["sku"] == "MUG-BLUE"


def test_pii_paths_names_every_pii_leaf() -> None:
    paths = set(pii_paths(Order))
    assert {"buyer.email", "shipping_address.line1", "items.gift_message", "buyer_message"} <= paths
    assert "shipping_address.country_code" not in paths
    assert "marketplace_order_id" not in paths


@given(orders)
def test_split_then_join_is_the_identity(order: Order) -> None:
    assert join(Order, *split(order)) == order


@given(orders)
def test_canonical_json_of_the_pii_part_is_deterministic(order: Order) -> None:
    _, pii = split(order)
    again = split(Order.model_validate(order.model_dump()))[1]
    assert canonical_json(pii) == canonical_json(again)
    assert canonical_json(dict(reversed(list(pii.items())))) == canonical_json(pii)


@given(orders)
def test_the_clear_part_never_holds_a_pii_value(order: Order) -> None:
    clear, _pii = split(order)
    stripped = join(Order, clear, {})
    assert all(v is None for v in _pii_values(stripped))


def _pii_values(order: Order) -> list[object]:
    _, pii = split(order)
    values: list[object] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        else:
            values.append(node)

    walk(pii)
    return [v for v in values if v is not None]


def test_drop_pii_removes_only_the_named_fields() -> None:
    order = make_order()
    slim = drop_pii(order, frozenset({"shipping_address.phone", "items.gift_message"}))
    assert slim.shipping_address is not None
    assert slim.shipping_address.phone is None
    assert slim.items[0].gift_message is None
    assert slim.shipping_address.line1 == "Heidestrasse 17"
    assert slim.buyer == order.buyer


def test_naive_timestamps_are_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone"):
        make_order(purchased_at=datetime(2026, 1, 1, 12, 0))
