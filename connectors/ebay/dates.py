"""eBay timestamps, read from the raw XML text with their offset.

ebaysdk turns every date node into a naive datetime by cutting the string at the dot, which
drops the `Z` (or `+02:00`): a naive time cannot be placed, so we never use its conversion.
eBay sends ISO 8601 with milliseconds and `Z`; any explicit offset is honoured too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from connectors.quarantine import check_timestamp

__all__ = ["NaiveTimestampError", "ebay_time", "parse_ebay_datetime"]

# Date, 'T', time, optional fraction, then Z or an offset. fromisoformat alone would accept
# date-only strings and week dates, which eBay never sends and which would hide a broken field.
_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


class NaiveTimestampError(ValueError):
    """A timestamp without Z or an offset."""


def parse_ebay_datetime(raw: str) -> datetime:
    """An aware UTC datetime; ValueError (without the value) when `raw` is not one."""
    text = raw.strip()
    match = _SHAPE.match(text)
    if match is None:
        raise ValueError("expected an ISO 8601 date-time")
    if match.group("zone") is None:
        raise NaiveTimestampError("date-time without a timezone")
    head, dot, tail = text.partition(".")
    if dot:
        # Python reads at most 6 fractional digits; eBay sends 3, other producers up to 9.
        digits = re.match(r"\d+", tail)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{tail[digits.end() :]}"
    try:
        # Converting can leave datetime's range (year 1 or 9999 with an offset).
        value = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("expected an ISO 8601 date-time") from None
    # Year 9999 converts, but the retention arithmetic cannot add days to it.
    return check_timestamp(value)


def ebay_time(value: datetime) -> str:
    """How requests send a time: UTC, milliseconds, `Z`, as eBay's own examples write it."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
