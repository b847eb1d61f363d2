"""The document built from an order's stored parts equals the one built from the `Order`."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.classify import canonical_json, join, split
from connectors.order import Order
from pipeline.forwarding_format import document_from_parts, order_document
from tests.factories import make_order, orders

KEY = "0f" * 32


def _stored(order: Order) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts as a worker gets them: the clear column and the opened PII, through JSON."""
    clear, pii = split(order)
    return json.loads(json.dumps(clear)), json.loads(canonical_json(pii))


def _wire(document: dict[str, Any] | None) -> bytes:
    return json.dumps(document, ensure_ascii=False, allow_nan=False).encode()


@settings(max_examples=300, deadline=None)
@given(order=orders, version=st.integers(min_value=1, max_value=10**6))
def test_the_document_from_stored_parts_is_the_documents_byte_for_byte(
    order: Order, version: int
) -> None:
    clear, pii = _stored(order)
    # What a worker sent until now: the order joined (validated) from the same parts.
    joined = join(Order, copy.deepcopy(clear), copy.deepcopy(pii))
    expected = order_document(joined, order_version=version, idempotency_key=KEY)
    built = document_from_parts(clear, pii, order_version=version, idempotency_key=KEY)
    assert _wire(built) == _wire(expected)
    # And the order it carries is the order that was stored.
    assert built is not None
    assert Order.model_validate(built["order"]) == order


def test_fields_the_row_predates_get_their_defaults() -> None:
    order = make_order()
    clear, pii = _stored(order)
    del clear["delivery_source"], clear["items"][0]["item_tax"]
    built = document_from_parts(clear, pii, order_version=1, idempotency_key=KEY)
    assert _wire(built) == _wire(order_document(order, order_version=1, idempotency_key=KEY))


def test_an_exponent_amount_and_an_offset_timestamp_are_normalised() -> None:
    order = make_order()
    clear, pii = _stored(order)
    clear["order_total"]["amount"] = "2.490E+1"
    clear["purchased_at"] = "2026-10-01T11:30:00+02:00"
    built = document_from_parts(clear, pii, order_version=1, idempotency_key=KEY)
    assert built is not None
    assert built["order"]["order_total"]["amount"] == "24.90"
    assert built["order"]["purchased_at"] == "2026-10-01T09:30:00Z"


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("2026-10-01T09:30:00.123456Z", "2026-10-01T09:30:00.123456Z"),
        ("2026-10-01T09:30:00Z", "2026-10-01T09:30:00Z"),
        # Spellings `isoformat` would not give are normalised, not passed on as stored.
        ("2026-10-01T09:30:00.000000Z", "2026-10-01T09:30:00Z"),
        ("2026-10-01T09:30:00.5Z", "2026-10-01T09:30:00.500000Z"),
        ("2026-10-01T09:30:00.123456+00:00", "2026-10-01T09:30:00.123456Z"),
        ("2026-10-01 09:30:00Z", "2026-10-01T09:30:00Z"),
    ],
)
def test_timestamps_are_sent_as_isoformat_spells_them_in_utc(stored: str, sent: str) -> None:
    order = make_order()
    clear, pii = _stored(order)
    clear["purchased_at"] = stored
    built = document_from_parts(clear, pii, order_version=1, idempotency_key=KEY)
    assert built is not None
    assert built["order"]["purchased_at"] == sent
    expected = order_document(join(Order, clear, pii), order_version=1, idempotency_key=KEY)
    assert _wire(built) == _wire(expected)


def test_an_impossible_date_is_left_to_the_validating_path() -> None:
    clear, pii = _stored(make_order())
    clear["purchased_at"] = "2026-02-30T09:30:00Z"
    assert document_from_parts(clear, pii, order_version=1, idempotency_key=KEY) is None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c, p: c.update(unknown_field=1),
        lambda c, p: p["buyer"].update(unknown_field="x"),
        lambda c, p: c.update(status="lost"),
        lambda c, p: c.update(purchased_at="2026-10-01T09:30:00"),  # naive
        lambda c, p: c["items"][0].update(quantity="1"),
        lambda c, p: c["order_total"].update(amount="NaN"),
        lambda c, p: p["items"].append({}),  # PII no longer aligned with the items
        lambda c, p: c.pop("client_id"),
        lambda c, p: c.update(buyer=None),  # PII without its clear part
    ],
)
def test_anything_unexpected_is_left_to_the_validating_path(spoil: Any) -> None:
    clear, pii = _stored(make_order())
    spoil(clear, pii)
    assert document_from_parts(clear, pii, order_version=1, idempotency_key=KEY) is None
