"""CSV flattening of forwarded documents, for SFTP destinations with `format = "csv"`.

One row per order item; an order without items gives one row with the item columns empty.
The order's columns repeat on each of its rows. RFC 4180: a header row, comma separated,
CRLF line ends, quoted where needed, UTF-8 without BOM. Empty cell = null. Money is split into
`<name>_amount` (decimal string) and `<name>_currency`; free-form maps (`buyer_tax_info`,
`shipping_extended`) are compact JSON objects in one cell.

Columns, in order (`CSV_COLUMNS`):
  idempotency_key, order_version, schema_version,
  client_id, marketplace, account, marketplace_order_id, site, status, fulfillment_channel,
  purchased_at, updated_at, shipped_at, delivered_at, delivery_source, cancelled_at,
  latest_delivery_by, currency, order_total_amount, order_total_currency,
  buyer_<name|email|phone|company|marketplace_buyer_id|username|eias_token|
         purchase_order_number|tax_id|tax_info>,
  shipping_<name|company|line1|line2|line3|city|district|state_or_region|postal_code|
            country_code|phone|address_type|extended>,
  buyer_message,
  item_index (1-based), item_marketplace_item_id, item_sku, item_product_id, item_title,
  item_quantity, item_quantity_shipped, item_unit_price_amount, item_unit_price_currency,
  item_price_amount, item_price_currency, item_tax_amount, item_tax_currency,
  item_shipping_price_amount, item_shipping_price_currency, item_gift_message,
  item_customized_url

Values are written as received, so a buyer-chosen text may begin with "=" or "+": the file is
for machine import, and whoever opens it in a spreadsheet should import it as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.destinations.base import OutgoingOrder

Path = tuple[str, ...]

_META = ("idempotency_key", "order_version", "schema_version")
_ORDER_SCALARS = (
    "client_id",
    "marketplace",
    "account",
    "marketplace_order_id",
    "site",
    "status",
    "fulfillment_channel",
    "purchased_at",
    "updated_at",
    "shipped_at",
    "delivered_at",
    "delivery_source",
    "cancelled_at",
    "latest_delivery_by",
    "currency",
)
_BUYER = (
    "name",
    "email",
    "phone",
    "company",
    "marketplace_buyer_id",
    "username",
    "eias_token",
    "purchase_order_number",
    "tax_id",
    "tax_info",
)
_ADDRESS = (
    "name",
    "company",
    "line1",
    "line2",
    "line3",
    "city",
    "district",
    "state_or_region",
    "postal_code",
    "country_code",
    "phone",
    "address_type",
    "extended",
)
_ITEM_BEFORE_MONEY = ("marketplace_item_id", "sku", "product_id", "title", "quantity")
_ITEM_MONEY = ("unit_price", "item_price", "item_tax", "shipping_price")
_ITEM_AFTER_MONEY = ("gift_message", "customized_url")


def _money(name: str, path: Path) -> list[tuple[str, Path]]:
    return [(f"{name}_amount", (*path, "amount")), (f"{name}_currency", (*path, "currency"))]


def _item_column(field: str) -> str:
    return field if field.startswith("item_") else f"item_{field}"


_ORDER_COLUMNS: list[tuple[str, Path]] = [
    *((name, ("ordervault", name)) for name in _META),
    *((name, ("order", name)) for name in _ORDER_SCALARS),
    *_money("order_total", ("order", "order_total")),
    *((f"buyer_{name}", ("order", "buyer", name)) for name in _BUYER),
    *((f"shipping_{name}", ("order", "shipping_address", name)) for name in _ADDRESS),
    ("buyer_message", ("order", "buyer_message")),
]
_ITEM_COLUMNS: list[tuple[str, Path]] = [
    *((_item_column(name), (name,)) for name in _ITEM_BEFORE_MONEY),
    ("item_quantity_shipped", ("quantity_shipped",)),
    *(column for name in _ITEM_MONEY for column in _money(_item_column(name), (name,))),
    *((_item_column(name), (name,)) for name in _ITEM_AFTER_MONEY),
]
CSV_COLUMNS: tuple[str, ...] = (
    *(name for name, _ in _ORDER_COLUMNS),
    "item_index",
    *(name for name, _ in _ITEM_COLUMNS),
)


def _at(node: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def document_rows(document: Mapping[str, Any]) -> list[list[str]]:
    """The CSV rows of one forwarded document (one per item, at least one)."""
    head = [_cell(_at(document, path)) for _, path in _ORDER_COLUMNS]
    items = _at(document, ("order", "items")) or []
    if not items:
        return [head + [""] * (1 + len(_ITEM_COLUMNS))]
    return [
        head + [str(index)] + [_cell(_at(item, path)) for _, path in _ITEM_COLUMNS]
        for index, item in enumerate(items, start=1)
    ]


def csv_bytes(batch: Sequence[OutgoingOrder]) -> bytes:
    """A whole CSV file for `batch`: header row, then every order's rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for order in batch:
        writer.writerows(document_rows(order.document))
    return buffer.getvalue().encode("utf-8")
