"""Order nodes that cannot become an `Order`: kept (sealed by the pipeline), never dropped.

A quarantine item names the offending field and the kind of problem, built only from field
names and pydantic's error *types*, never from pydantic's messages or inputs, which can quote
the value (an email, an address line) verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

__all__ = ["PayloadError", "QuarantineItem", "describe_validation_error", "safe_order_id"]

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
    "decimal_type": "expected a decimal number",
    "decimal_parsing": "expected a decimal number",
    "finite_number": "expected a finite number",
    "datetime_type": "expected an ISO 8601 date-time",
    "datetime_parsing": "expected an ISO 8601 date-time",
    "timezone_aware": "date-time without a timezone",
    "greater_than_equal": "below the minimum",
    "enum": "unknown value",
    "value_error": "invalid value",
}


@dataclass(frozen=True)
class QuarantineItem:
    """An order node that failed mapping; the pipeline seals `payload` and stores the rest.

    `payload` is the `<Order>` element as eBay sent it, re-serialised without the namespace
    declaration (UTF-8). `field` and `reason` name the problem, never a value.
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
    """A node field that cannot be mapped. `field` is an XML path, `problem` our own words."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + (part if _SEGMENT.match(part) else "*")
    return path or "*"


def describe_validation_error(exc: ValidationError) -> tuple[str, str]:
    """(canonical field path, problem) of the first error, plus how many more there were."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    error_type = str(first["type"])
    problem = _PROBLEMS.get(error_type) or (error_type if _ERROR_TYPE.match(error_type) else "")
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    return _field_path(first["loc"]), problem or "invalid"


def safe_order_id(candidate: str | None) -> str | None:
    """The order id if it looks like one (it goes into clear columns and logs)."""
    return candidate if candidate is not None and _ORDER_ID.match(candidate) else None
