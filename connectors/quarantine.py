"""Payloads that cannot become an `Order`: kept (sealed by the pipeline), never dropped.

Shared by every connector.

A quarantine item names the offending field and the kind of problem, built only from field
names and pydantic's error *types*, never from pydantic's messages or inputs, which can quote
the value (an email, an address line) verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "MAX_PAYLOAD_DEPTH",
    "PLAUSIBLE_TIMESTAMPS",
    "PayloadError",
    "QuarantineItem",
    "check_timestamp",
    "describe_validation_error",
    "field_path",
    "payload_bytes",
    "safe_order_id",
    "unencodable_at",
]

#: Marketplace timestamps outside these bounds are broken payloads, not orders. The lower
#: bound is the Unix epoch (Amazon's own sandbox examples date from January 1970); the upper
#: one leaves room for the retention arithmetic (delivery + up to 10 years) that would
#: otherwise leave `datetime`'s range.
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(2200, 1, 1, tzinfo=UTC)
PLAUSIBLE_TIMESTAMPS = "date-time outside 1970-2199"
#: Marketplace documents nest about ten levels deep; anything past this is not an order's data.
MAX_PAYLOAD_DEPTH = 64

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ORDER_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_ERROR_TYPE = re.compile(r"^[a-z_]{1,64}$")

_PROBLEMS = {
    "missing": "required field is missing",
    "string_type": "expected a string",
    "string_too_short": "empty",
    "string_too_long": "too long",
    "string_pattern_mismatch": "does not match the expected format",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "decimal_type": "expected a decimal number",
    "decimal_parsing": "expected a decimal number",
    "finite_number": "expected a finite number",
    "bool_type": "expected a boolean",
    "bool_parsing": "expected a boolean",
    "datetime_type": "expected an ISO 8601 date-time",
    "datetime_parsing": "expected an ISO 8601 date-time",
    "datetime_from_date_parsing": "expected an ISO 8601 date-time",
    "timezone_aware": "date-time without a timezone",
    "timestamp_range": PLAUSIBLE_TIMESTAMPS,
    "string_unicode": "not valid Unicode",
    "greater_than_equal": "below the minimum",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "enum": "unknown value",
    "literal_error": "unknown value",
    "value_error": "invalid value",
    "extra_forbidden": "unexpected field",
}


@dataclass(frozen=True)
class QuarantineItem:
    """A payload that failed validation; the pipeline seals `payload` and stores the rest.

    `payload` is the raw marketplace payload (Amazon: the order's JSON; eBay: the `<Order>`
    element, UTF-8). `field` and `reason` name the problem, never a value.
    """

    marketplace_order_id: str | None
    payload: bytes
    field: str
    reason: str

    def __repr__(self) -> str:  # the payload holds PII: never print it
        return (
            f"QuarantineItem(marketplace_order_id={self.marketplace_order_id!r}, "
            f"field={self.field!r}, reason={self.reason!r}, payload=<{len(self.payload)} bytes>)"
        )


class PayloadError(ValueError):
    """A payload field that cannot be mapped (an unknown status, say); `problem` is our words."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def field_path(loc: Sequence[int | str]) -> str:
    """`("orderItems", 0, "product")` -> `orderItems[0].product`; odd keys become `*`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + (part if _SEGMENT.match(part) else "*")
    return path or "*"


def describe_validation_error(exc: ValidationError, *, prefix: str = "") -> tuple[str, str]:
    """(field, problem) of the first error, plus how many more there were."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    error_type = str(first["type"])
    problem = _PROBLEMS.get(error_type) or (error_type if _ERROR_TYPE.match(error_type) else "")
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    path = field_path(first["loc"])
    if prefix:
        path = f"{prefix}.{path}" if first["loc"] else prefix
    return path, problem or "invalid"


def safe_order_id(candidate: object) -> str | None:
    """The order id if it looks like one (it goes into clear columns and logs), else None."""
    return candidate if isinstance(candidate, str) and _ORDER_ID.match(candidate) else None


def check_timestamp(value: datetime) -> datetime:
    """`value` if it can be placed in UTC within the plausible bounds; ValueError otherwise.

    The ValueError says nothing about the value. Converting to UTC can itself leave
    `datetime`'s range (year 1 with a positive offset), which Python reports as OverflowError.
    """
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(PLAUSIBLE_TIMESTAMPS) from None
    if not EARLIEST_TIMESTAMP <= utc < LATEST_TIMESTAMP:
        raise ValueError(PLAUSIBLE_TIMESTAMPS)
    return value


def unencodable_at(value: Any, loc: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where the first string that is not valid Unicode (a lone surrogate) sits, or None.

    JSON may carry `"\\ud800"` and Python decodes it, but such a string cannot be written as
    UTF-8: sealing or storing it would fail long after validation.
    """
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return loc
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = unencodable_at(key, (*loc, "*")) or unencodable_at(item, (*loc, str(key)))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unencodable_at(item, (*loc, index))
            if found is not None:
                return found
    return None


def payload_bytes(raw: Any) -> bytes:
    """A JSON payload as UTF-8 bytes, whatever strings it holds and however deep it nests.

    Non-ASCII stays readable; a payload with a lone surrogate is written with `\\u` escapes
    instead, which decode back to exactly what the marketplace sent. Nesting deeper than
    `MAX_PAYLOAD_DEPTH` (JSON the parser accepted, but no encoder called from inside a worker's
    stack can write back) is replaced by a note.
    """
    value = _pruned(raw, MAX_PAYLOAD_DEPTH)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def _pruned(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping | list | tuple) and depth == 0:
        return f"<nested deeper than {MAX_PAYLOAD_DEPTH} levels: not kept>"
    if isinstance(value, Mapping):
        return {key: _pruned(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_pruned(item, depth - 1) for item in value]
    return value
