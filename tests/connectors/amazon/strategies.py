"""Hypothesis strategies for payloads that are valid under Amazon's Swagger definitions.

Values of fields that carry buyer PII are tagged with `PII~`, so a test can check that no such
value ever reaches a clear column, a quarantine reason or a field name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

PII_TAG = "PII~"
# Amazon field names whose values are buyer PII (both API versions).
PII_FIELDS = frozenset(
    {
        "buyerName",
        "buyerEmail",
        "buyerCompanyName",
        "buyerPurchaseOrderNumber",
        "name",
        "companyName",
        "addressLine1",
        "addressLine2",
        "addressLine3",
        "postalCode",
        "phone",
        "streetName",
        "streetNumber",
        "complement",
        "neighborhood",
        "giftMessage",
        "customizedUrl",
        "legalName",
        "taxRegistrationNumber",
        "BuyerEmail",
        "BuyerName",
        "PurchaseOrderNumber",
        "CompanyLegalName",
        "Name",
        "CompanyName",
        "AddressLine1",
        "AddressLine2",
        "AddressLine3",
        "PostalCode",
        "Phone",
        "StreetName",
        "StreetNumber",
        "Complement",
        "Neighborhood",
        "GiftMessageText",
        "CustomizedURL",
        "BuyerTaxRegistrationId",
        "BuyerBusinessAddress",
    }
)
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_date_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
# Four in five Amazon-shaped ([0-9], not any Unicode digit); the connector quarantines the rest.
_order_ids = st.integers(0, 4).flatmap(
    lambda n: _text if n == 0 else st.from_regex(r"\A[0-9]{3}-[0-9]{7}-[0-9]{7}\Z")
)
# Plausible values where the canonical order is strict, mixed with what merely passes the schema.
_OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "currencyCode": st.sampled_from(["EUR", "USD", "BRL", "eur", ""]),
    "CurrencyCode": st.sampled_from(["EUR", "USD", "eur"]),
    "countryCode": st.sampled_from(["DE", "GB", "BR", "de", ""]),
    "CountryCode": st.sampled_from(["DE", "US", "Deutschland"]),
    "amount": st.decimals(0, 10_000, places=2).map(str) | _text,
    "Amount": st.decimals(0, 10_000, places=2).map(str) | _text,
    "PurchaseDate": _date_times | _text,
    "LastUpdateDate": _date_times | _text,
    "LatestDeliveryDate": _date_times,
    # Mostly Amazon-shaped ids (the connector quarantines anything else), sometimes not.
    "orderId": _order_ids,
    "AmazonOrderId": _order_ids,
    "quantityOrdered": st.integers(0, 5) | st.integers(-5, -1),
    "QuantityOrdered": st.integers(0, 5),
}


def payloads(document: dict[str, Any], definition: str) -> st.SearchStrategy[Any]:
    strategy: st.SearchStrategy[Any] = _schema(
        document, {"$ref": f"#/definitions/{definition}"}, None, 0
    )
    return strategy


def _schema(document: dict[str, Any], schema: dict[str, Any], name: str | None, depth: int) -> Any:
    if "$ref" in schema:
        target = document["definitions"][schema["$ref"].removeprefix("#/definitions/")]
        return _schema(document, target, name, depth)
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type", "object")
    if kind == "string":
        if schema.get("format") == "date-time":
            return _date_times
        if schema.get("format") == "date":
            return st.dates().map(lambda day: day.isoformat())
        if name in PII_FIELDS:
            return _text.map(lambda s: PII_TAG + s)
        return _text
    if kind == "integer":
        return st.integers(schema.get("minimum", -10), 10_000)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(_schema(document, schema.get("items", {}), name, depth + 1), max_size=2)
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    optional = (
        {}
        if depth > 5
        else {
            key: _schema(document, value, key, depth + 1)
            for key, value in properties.items()
            if key not in required
        }
    )
    return st.fixed_dictionaries(
        {key: _schema(document, properties[key], key, depth + 1) for key in sorted(required)},
        optional=optional,
    )
