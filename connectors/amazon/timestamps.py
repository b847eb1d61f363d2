"""Amazon timestamps as the payload models read them: ISO 8601 text with an offset, placeable.

Amazon's models declare date-times as strings. pydantic's `AwareDatetime` alone also takes a
number, or a numeric string, as Unix seconds (`17` would be 1970-01-01T00:00:17Z), accepts
`0001-01-01T00:00:00+14:00`, which cannot be converted to UTC (Python raises OverflowError,
not a validation error), and `9999-12-31T23:59:59Z`, which the retention arithmetic cannot add
days to. Such a payload is quarantined instead, naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from connectors.quarantine import PLAUSIBLE_TIMESTAMPS, check_timestamp

__all__ = ["Timestamp"]

_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.match(value)):
        return value
    raise PydanticCustomError("datetime_parsing", "expected an ISO 8601 date-time")


def _placeable(value: datetime) -> datetime:
    try:
        return check_timestamp(value)
    except ValueError:
        raise PydanticCustomError("timestamp_range", PLAUSIBLE_TIMESTAMPS) from None


Timestamp = Annotated[AwareDatetime, BeforeValidator(_text), AfterValidator(_placeable)]
