"""The forwarded order document and the JSON schema that ships with it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.classify import Classified, pii_paths
from connectors.order import Address, Buyer, Money, Order, OrderItem
from pipeline.forwarding_format import FORWARDING_SCHEMA_VERSION, order_document, order_schema
from tests.factories import make_order, orders

SCHEMA = order_schema()
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
KEY = "0f" * 32


def test_the_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@settings(max_examples=150, deadline=None)
@given(order=orders, version=st.integers(min_value=1, max_value=10**6))
def test_documents_of_any_order_validate_and_give_the_order_back(
    order: Order, version: int
) -> None:
    document = order_document(order, order_version=version, idempotency_key=KEY)
    wire = json.loads(json.dumps(document, ensure_ascii=False, allow_nan=False))
    VALIDATOR.validate(wire)
    # Lossless: the receiver can rebuild exactly the canonical order.
    assert Order.model_validate(wire["order"]) == order
    assert wire["ordervault"]["order_version"] == version


def test_metadata_block() -> None:
    order = make_order()
    document = order_document(order, order_version=3, idempotency_key=KEY)
    assert document["ordervault"] == {
        "schema_version": FORWARDING_SCHEMA_VERSION,
        "order_version": 3,
        "idempotency_key": KEY,
        "client_id": "acme",
        "marketplace": "amazon",
        "account": "acme-eu",
        "marketplace_order_id": "028-1234567-1234567",
        "site": "A1PA6795UKMFR9",
    }
    assert document["order"]["buyer"]["email"] == "erika@example.invalid"  # PII is forwarded


def test_money_is_a_plain_decimal_string_and_timestamps_end_in_z() -> None:
    order = make_order(order_total=Money(amount=Decimal("1E+2"), currency="EUR"))
    document = order_document(order, order_version=1, idempotency_key=KEY)
    assert document["order"]["order_total"] == {"amount": "100", "currency": "EUR"}
    assert document["order"]["purchased_at"] == "2026-10-01T09:30:00Z"
    VALIDATOR.validate(document)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["order"].update(surprise=1),
        lambda d: d["order"]["order_total"].update(amount=24.9),
        lambda d: d["order"].update(purchased_at="2026-10-01 09:30"),
        lambda d: d["ordervault"].update(idempotency_key="not-hex"),
        lambda d: d["order"]["items"][0].pop("sku"),
    ],
)
def test_the_schema_rejects_what_the_format_never_produces(mutate: Any) -> None:
    document = order_document(make_order(), order_version=1, idempotency_key=KEY)
    mutate(document)
    assert not VALIDATOR.is_valid(document)


MODELS: dict[str, type[Classified]] = {
    "order": Order,
    "buyer": Buyer,
    "address": Address,
    "item": OrderItem,
    "money": Money,
}


@pytest.mark.parametrize("definition", sorted(MODELS))
def test_the_schema_lists_exactly_the_model_fields(definition: str) -> None:
    # A field added to the canonical order must be added to the shipped schema too.
    properties = SCHEMA["$defs"][definition]["properties"]
    assert set(properties) == set(MODELS[definition].model_fields)
    assert set(SCHEMA["$defs"][definition]["required"]) == set(properties)


def _schema_pii_paths(definition: str, prefix: str = "") -> set[str]:
    found = set()
    for name, spec in SCHEMA["$defs"][definition]["properties"].items():
        if spec.get("x-pii"):
            found.add(prefix + name)
        refs = [s["$ref"] for s in spec.get("anyOf", []) if "$ref" in s]
        refs += [spec["items"]["$ref"]] if "$ref" in spec.get("items", {}) else []
        for ref in refs:
            found |= _schema_pii_paths(ref.rsplit("/", 1)[1], f"{prefix}{name}.")
    return found


def test_x_pii_marks_exactly_the_model_pii_fields() -> None:
    assert _schema_pii_paths("order") == set(pii_paths(Order))
