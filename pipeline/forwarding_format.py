"""The JSON document every destination receives for one order version.

Shape (schema: `pipeline/schemas/order.schema.json`, JSON Schema draft 2020-12)::

    {
      "ordervault": {"schema_version": 1, "order_version": 3, "idempotency_key": "<64 hex>",
                     "client_id": ..., "marketplace": ..., "account": ...,
                     "marketplace_order_id": ..., "site": ...},
      "order": {<the whole canonical order, PII included; every field present, null if absent>}
    }

The metadata repeats the marketplace identifiers so a receiver can route and deduplicate
without reading the order. The encoding is fixed here rather than left to pydantic, so the
wire format changes only when this module does: money amounts are decimal strings in plain
notation ("100.00", never "1E+2" and never a float), timestamps are UTC RFC 3339 with "Z".
"""

from __future__ import annotations

import enum
import json
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from connectors.order import Order

FORWARDING_SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "order.schema.json"


def order_document(order: Order, *, order_version: int, idempotency_key: str) -> dict[str, Any]:
    """The forwarded document of `order` at `order_version` (PII included: send, never log)."""
    if order_version < 1:
        raise ValueError("order versions start at 1")
    return {
        "ordervault": {
            "schema_version": FORWARDING_SCHEMA_VERSION,
            "order_version": order_version,
            "idempotency_key": idempotency_key,
            "client_id": order.client_id,
            "marketplace": order.marketplace.value,
            "account": order.account,
            "marketplace_order_id": order.marketplace_order_id,
            "site": order.site,
        },
        "order": _jsonable(order.model_dump()),
    }


@cache
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def order_schema() -> dict[str, Any]:
    """The shipped JSON schema of a forwarded document (a fresh copy each call)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


# Most leaves of an order are these; testing for them first halves the walk's cost.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {str(key): _jsonable(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        # Order validates every timestamp to UTC, so the offset is always +00:00.
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


# --- the same document, built from an order's stored parts -----------------------------------
#
# A worker holds each order as the clear JSON of its row and the opened PII dict. Rebuilding a
# pydantic `Order` from them (`classify.join`, a full `model_validate`) and dumping it again was
# most of the per-order cost of a batched forward. Both parts were written from a validated
# `Order` (`classify.split`), so `document_from_parts` follows a per-model plan instead: every
# field in declaration order, defaults for fields the row predates, the same encoding as
# `_jsonable`. Anything it does not expect (an unknown key, a value of another type, parts that
# do not align) makes it return None, and the caller takes the validating path, so the result
# is either the document `order_document` would give or nothing.
#
# The plan is compiled once per model into a straight-line Python function (`_compile`): a
# loop interpreting the plan field by field, kind by kind, cost about four times as much and
# was the largest share of a worker's CPU per forwarded order.


class _Unexpected(Exception):
    """The stored parts hold something the plan does not cover; use the validating path."""


_MISSING: Any = object()
_PLAIN_KINDS = frozenset({str, int, bool})
# A decimal in plain notation: `format(Decimal(s), "f")` gives `s` back, so it is kept as is.
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
# A UTC timestamp as `isoformat` spells it, "Z" for the offset: kept as is once it parsed.
_CANONICAL_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?Z"
)


_Model = type[BaseModel]  # an alias: inside `_Field`, `type` names its field


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # plain | enum | decimal | datetime | mapping | model | models
    default: Any  # _MISSING when the field is required
    type: type | None = None  # plain: str, int or bool
    values: frozenset[str] = frozenset()  # enum: its values
    plan: tuple[_Field, ...] = ()  # model, models: the nested model's fields
    model: _Model | None = None  # model, models: the nested model


def document_from_parts(
    clear: Mapping[str, Any],
    pii: Mapping[str, Any],
    *,
    order_version: int,
    idempotency_key: str,
) -> dict[str, Any] | None:
    """`order_document` of the order stored as `clear` + `pii`, or None if it needs validating.

    `clear` and `pii` are what `classify.split` made of a valid `Order` (PII: send, never log).
    """
    if order_version < 1:
        raise ValueError("order versions start at 1")
    try:
        order = _order_builder()(clear, pii)
    except (_Unexpected, ArithmeticError, ValueError, TypeError, AttributeError):
        return None
    return {
        "ordervault": {
            "schema_version": FORWARDING_SCHEMA_VERSION,
            "order_version": order_version,
            "idempotency_key": idempotency_key,
            "client_id": order["client_id"],
            "marketplace": order["marketplace"],
            "account": order["account"],
            "marketplace_order_id": order["marketplace_order_id"],
            "site": order["site"],
        },
        "order": order,
    }


_Builder = Callable[[Any, Any], dict[str, Any]]


def _compile(model: type[BaseModel], plan: tuple[_Field, ...]) -> _Builder:
    """The function building `model`'s part of the document from its clear and PII parts.

    Per field, what an interpreted walk of `plan` would do: the PII value if there is one,
    else the clear one, else the default (`_Unexpected` if required); None stays None; then
    the kind's check or encoding. Nested models call their own compiled builders.
    """
    names: dict[str, Any] = {
        "_Unexpected": _Unexpected,
        "_MISSING": _MISSING,
        "_timestamp": _timestamp,
        "_decimal": _decimal,
        "_nested_one": _nested_one,
        "_nested_many": _nested_many,
        "names": frozenset(field.name for field in plan),
    }
    lines = [
        "def build(clear, pii):",
        "    if type(clear) is not dict or type(pii) is not dict:",
        "        raise _Unexpected",
        "    if not (clear.keys() <= names and pii.keys() <= names):",
        "        raise _Unexpected  # `extra='forbid'` would refuse it",
        "    clear_get = clear.get",
        "    pii_get = pii.get",
    ]
    for position, field in enumerate(plan):
        value, key = f"v{position}", repr(field.name)
        if field.kind in ("model", "models"):
            names[f"build{position}"] = _compile_nested(field)
            names[f"default{position}"] = field
            helper = "_nested_one" if field.kind == "model" else "_nested_many"
            lines.append(
                f"    {value} = {helper}(build{position}, default{position},"
                f" clear_get({key}, _MISSING), pii_get({key}))"
            )
            continue
        lines += [
            f"    {value} = pii_get({key})",
            f"    if {value} is None:",
            f"        {value} = clear_get({key}, _MISSING)",
            f"        if {value} is _MISSING:",
        ]
        if field.default is _MISSING:
            lines.append("            raise _Unexpected  # a required field the row lacks")
        else:
            names[f"default{position}"] = field.default
            copied = "list" if isinstance(field.default, tuple) else ""
            lines.append(f"            {value} = {copied}(default{position})")
        lines.append(f"    if {value} is not None:")
        if field.kind == "plain":
            names[f"type{position}"] = field.type
            lines += [
                f"        if type({value}) is not type{position}:",
                "            raise _Unexpected",
            ]
        elif field.kind == "enum":
            names[f"values{position}"] = field.values
            lines += [
                f"        if type({value}) is not str or {value} not in values{position}:",
                "            raise _Unexpected",
            ]
        elif field.kind == "datetime":
            lines.append(f"        {value} = _timestamp({value})")
        elif field.kind == "decimal":
            lines.append(f"        {value} = _decimal({value})")
        else:  # mapping of text
            lines += [
                f"        if type({value}) is not dict or any("
                f"type(item) is not str for item in {value}.values()):",
                "            raise _Unexpected",
                f"        {value} = dict({value})",
            ]
    items = ", ".join(f"{field.name!r}: v{position}" for position, field in enumerate(plan))
    lines.append(f"    return {{{items}}}")
    # The source is made of this module's text and the model's declared field names (as repr'd
    # string literals), never of stored data; values reach the function only as arguments.
    source = compile("\n".join(lines), f"<forwarding plan of {model.__name__}>", "exec")
    exec(source, names)  # noqa: S102  # nosec B102
    builder: _Builder = names["build"]
    return builder


def _compile_nested(field: _Field) -> _Builder:
    assert field.model is not None
    return _compile(field.model, field.plan)


def _nested_one(build: _Builder, field: _Field, clear: Any, pii: Any) -> Any:
    """A nested model: the clear part gives the shape, PII fills it in."""
    if clear is _MISSING or clear is None:
        return _absent(field, clear, pii)
    return build(clear, pii or {})


def _nested_many(build: _Builder, field: _Field, clear: Any, pii: Any) -> Any:
    """A list of nested models; the PII list, if any, aligned with the clear one by index."""
    if clear is _MISSING or clear is None:
        return _absent(field, clear, pii)
    if type(clear) is not list or (pii is not None and type(pii) is not list):
        raise _Unexpected
    if pii is None:
        return [build(item, {}) for item in clear]
    if len(pii) != len(clear):
        raise _Unexpected
    return [build(c, p or {}) for c, p in zip(clear, pii, strict=True)]


def _absent(field: _Field, clear: Any, pii: Any) -> Any:
    if pii is not None:
        raise _Unexpected  # PII without its clear part: `split` never writes that
    if clear is None:
        return None
    if field.default is _MISSING:
        raise _Unexpected  # a required field the row lacks
    return list(field.default) if isinstance(field.default, tuple) else field.default


def _timestamp(value: Any) -> str:
    if type(value) is not str:
        raise _Unexpected
    parsed = datetime.fromisoformat(value)  # parsed even when already in shape: it must be valid
    if parsed.tzinfo is None:
        raise _Unexpected  # the model refuses naive timestamps
    # Stored timestamps are nearly always spelled as the document spells them already, and
    # `isoformat` cost more than the rest of the field's handling: keep such a value as is.
    # Not with a zero fraction (".000000Z"), which `isoformat` leaves out.
    if _CANONICAL_UTC.fullmatch(value) and (parsed.microsecond == 0) == (len(value) == 20):
        return value
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _decimal(value: Any) -> str:
    if type(value) is not str:
        raise _Unexpected
    if _PLAIN_DECIMAL.fullmatch(value):
        return value
    number = Decimal(value)
    if not number.is_finite():
        raise _Unexpected
    return format(number, "f")


@cache
def _order_builder() -> _Builder:
    return _compile(Order, _plan(Order))


def _plan(model: type[BaseModel]) -> tuple[_Field, ...]:
    plan = []
    for name, info in model.model_fields.items():
        default = _MISSING if info.is_required() else info.default
        kind, inner = _kind(info.annotation)
        if kind in ("model", "models"):
            assert isinstance(inner, type)
            assert issubclass(inner, BaseModel)
            plan.append(
                _Field(
                    name,
                    kind,
                    default,
                    plan=_plan(inner),
                    model=inner,
                )
            )
        elif kind == "enum":
            assert isinstance(inner, type)
            assert issubclass(inner, enum.Enum)
            plan.append(_Field(name, kind, default, values=frozenset(m.value for m in inner)))
        else:
            plan.append(_Field(name, kind, default, type=inner))
    return tuple(plan)


def _kind(annotation: Any) -> tuple[str, type | None]:
    """How a field of this annotation is encoded, and its type; raises for one not planned."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            inner = [a for a in get_args(annotation) if a is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"no forwarding plan for {annotation!r}")
            annotation = inner[0]
        else:
            break
    if origin in (tuple, list):
        kind, item = _kind(get_args(annotation)[0])
        if kind != "model":
            raise TypeError(f"no forwarding plan for {annotation!r}")
        return "models", item
    if origin is dict:
        return "mapping", None
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "model", annotation
        if issubclass(annotation, enum.Enum):
            return "enum", annotation
        if issubclass(annotation, datetime):
            return "datetime", None
        if issubclass(annotation, Decimal):
            return "decimal", None
        if annotation in _PLAIN_KINDS:
            return "plain", annotation
    raise TypeError(f"no forwarding plan for {annotation!r}")
