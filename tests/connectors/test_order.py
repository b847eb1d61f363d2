"""The canonical `Order`: timestamps that cannot be placed in UTC fail validation, by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.order import Order
from tests.factories import make_order

# Offsets pydantic can parse from a marketplace timestamp: up to a day either way.
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _validate_with(field: str, value: datetime) -> Order:
    data = make_order().model_dump()
    data[field] = value
    return Order.model_validate(data)


@pytest.mark.parametrize(
    "value",
    [
        datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(minutes=1))),
    ],
)
def test_a_timestamp_with_no_utc_time_is_a_validation_error_naming_the_field(
    value: datetime,
) -> None:
    with pytest.raises(ValidationError) as raised:
        _validate_with("updated_at", value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("updated_at",)
    assert "outside the supported range" in error["msg"]


@given(value=st.datetimes(timezones=OFFSETS))
def test_any_aware_timestamp_validates_or_fails_validation(value: datetime) -> None:
    try:
        order = _validate_with("purchased_at", value)
    except ValidationError as exc:  # any other exception fails the test
        locations = [e["loc"] for e in exc.errors()]
    else:
        assert order.purchased_at == value
        assert order.purchased_at.tzinfo is UTC
        return
    assert locations == [("purchased_at",)]
