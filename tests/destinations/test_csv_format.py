"""CSV flattening for SFTP: one row per item, documented columns."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from connectors.order import Buyer, Money, OrderItem
from pipeline.destinations.csv_format import CSV_COLUMNS, csv_bytes
from pipeline.forwarding_format import order_schema
from tests.destinations.conftest import outgoing
from tests.factories import make_order


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_one_row_per_item_with_the_order_columns_repeated() -> None:
    items = (
        OrderItem(
            marketplace_item_id="1",
            sku="MUG",
            quantity=2,
            unit_price=Money(amount=Decimal("4.50"), currency="EUR"),
        ),
        OrderItem(
            marketplace_item_id="2",
            title='Cup, "large"\nred',
            quantity=1,
            gift_message="Alles Gute",
        ),
    )
    order = outgoing(make_order(items=items))
    data = csv_bytes([order])
    assert data.startswith(",".join(CSV_COLUMNS).encode() + b"\r\n")
    first, second = rows(data)
    assert first["idempotency_key"] == second["idempotency_key"] == order.idempotency_key
    assert first["buyer_email"] == second["buyer_email"] == "erika@example.invalid"
    assert first["shipping_postal_code"] == "51147"
    assert (first["item_index"], first["item_sku"], first["item_quantity"]) == ("1", "MUG", "2")
    assert (first["item_unit_price_amount"], first["item_unit_price_currency"]) == ("4.50", "EUR")
    assert first["item_price_amount"] == first["item_gift_message"] == ""
    assert second["item_title"] == 'Cup, "large"\nred'  # quoting survives commas, quotes, newlines
    assert second["item_gift_message"] == "Alles Gute"
    assert first["order_total_amount"] == "24.90"


def test_an_order_without_items_still_gives_one_row() -> None:
    (row,) = rows(csv_bytes([outgoing(make_order(items=()))]))
    assert row["marketplace_order_id"] == "028-1234567-1234567"
    assert row["item_index"] == row["item_marketplace_item_id"] == ""


def test_maps_are_json_cells_and_null_is_empty() -> None:
    order = make_order(buyer=Buyer(name="X", tax_info={"vat": "DE123", "b": "2"}))
    (row,) = rows(csv_bytes([outgoing(order)]))
    assert json.loads(row["buyer_tax_info"]) == {"vat": "DE123", "b": "2"}
    assert row["buyer_phone"] == ""


def _leaves(definition: str, schema: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for name, spec in schema["$defs"][definition]["properties"].items():
        refs = [s["$ref"] for s in spec.get("anyOf", []) if "$ref" in s]
        if name == "items" or not refs:
            found.add(prefix + name)
        for ref in refs:
            found |= _leaves(ref.rsplit("/", 1)[1], schema, f"{prefix}{name}_")
    return found


def test_every_field_of_the_schema_has_a_column() -> None:
    schema = order_schema()
    order_leaves = _leaves("order", schema) - {"items"}
    renamed = {leaf.replace("shipping_address_", "shipping_") for leaf in order_leaves}
    item_leaves = {
        name if name.startswith("item_") else f"item_{name}" for name in _leaves("item", schema)
    }
    meta = {"idempotency_key", "order_version", "schema_version"}
    assert renamed | item_leaves | meta | {"item_index"} == set(CSV_COLUMNS)
    assert len(CSV_COLUMNS) == len(set(CSV_COLUMNS))
