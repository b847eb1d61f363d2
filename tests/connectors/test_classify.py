"""The PII classification of the canonical order: complete, reversible, deterministic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Annotated, Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.classify import (
    CLEAR,
    NESTED,
    PII,
    Classified,
    Json,
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


# --- canonical_json: byte-identical to the json.dumps it replaced ----------------------------
#
# Every stored content digest was computed over json.dumps' bytes; one differing byte would make
# every stored order look changed on its next pull (re-versioned, forwarded again).


def _reference_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# Every code point, lone surrogates included, and integers of any size.
_any_text = st.text(alphabet=st.characters(codec=None), max_size=12)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_any_text, inner, max_size=4),
    max_leaves=20,
)


@given(_json_values)
def test_canonical_json_is_byte_identical_to_json_dumps(value: object) -> None:
    try:
        expected = _reference_json(value)
    except UnicodeEncodeError:  # a lone surrogate: refused as before
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)  # type: ignore[arg-type]
        return
    assert canonical_json(value) == expected  # type: ignore[arg-type]


@given(orders)
def test_canonical_json_of_both_parts_is_byte_identical_to_json_dumps(order: Order) -> None:
    for part in split(order):
        assert canonical_json(part) == _reference_json(part)


def test_canonical_json_handles_what_orjson_refuses_like_json_dumps() -> None:
    awkward = '\x00\x1f\x7f\u2028\u2029\ufeff "quoted" \\ / Grüße 漢字 😀'
    order = make_order(
        buyer=Buyer(name=awkward, email="x@example.invalid", tax_info={awkward: awkward}),
        items=(OrderItem(marketplace_item_id="1", title=awkward, quantity=2**64 + 1),),
    )
    for part in split(order):
        assert canonical_json(part) == _reference_json(part)
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"name": "\ud800"})


def test_the_content_digest_input_of_a_known_order_is_unchanged() -> None:
    # Known answer, computed with the json.dumps implementation and the original split.
    clear, pii = split(make_order())
    data = canonical_json(clear) + b"\x00" + canonical_json(pii)
    assert hashlib.sha256(data).hexdigest() == (
        "05e24a00f3d905337b7fb81f4d27d2b950d7f03a34bd15f56a3f9e2a016dad15"
    )


# --- split: the same parts, keys in the same order, as the implementation it replaced ---------


def _reference_split(model: type[Classified], data: dict[str, Any]) -> tuple[Json, Json]:
    """`split` as first written (a new dict per part), over `model_dump(mode="json")`."""
    clear: Json = {}
    pii: Json = {}
    for name, marker in model.__classification__.items():
        value = data.get(name)
        if marker is CLEAR:
            clear[name] = value
        elif marker is PII:
            if value is not None:
                pii[name] = value
        elif value is None:
            clear[name] = None
        else:
            nested = _nested(model.model_fields[name].annotation)
            if isinstance(value, list):
                parts = [_reference_split(nested, item) for item in value]
                clear[name] = [c for c, _ in parts]
                if any(p for _, p in parts):
                    pii[name] = [p for _, p in parts]
            else:
                clear[name], nested_pii = _reference_split(nested, value)
                if nested_pii:
                    pii[name] = nested_pii
    return clear, pii


def _nested(annotation: object) -> type[Classified]:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Classified):
            return candidate
    raise AssertionError(f"no classified model in {annotation!r}")


@given(orders)
def test_split_equals_the_reference_split_key_order_included(order: Order) -> None:
    expected = _reference_split(Order, order.model_dump(mode="json"))
    actual = split(order)
    assert actual == expected
    # json.dumps without sort_keys shows every dict's key order (the clear column's text).
    assert [json.dumps(part) for part in actual] == [json.dumps(part) for part in expected]


def test_split_leaves_the_model_and_a_second_split_unchanged() -> None:
    order = make_order()
    first = split(order)
    assert split(order) == first
    assert order.buyer is not None
    assert order.buyer.email == "erika@example.invalid"


def _annotations(model: type[Classified]) -> Iterator[object]:
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            yield annotation
            stack.extend(get_args(annotation))
            if isinstance(annotation, type) and issubclass(annotation, Classified):
                yield from _annotations(annotation)


def test_no_field_dumps_as_a_json_float() -> None:
    # orjson and json.dumps spell some floats differently (1e16 vs 1e+16): canonical_json's
    # equality holds only because no field is a float (Decimal dumps as a string).
    assert float not in set(_annotations(Order))
