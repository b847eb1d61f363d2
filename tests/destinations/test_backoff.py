"""Backoff with full jitter, and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.destinations import backoff_delay_s, parse_retry_after
from pipeline.destinations.backoff import MAX_RETRY_AFTER_S

NOW_S = datetime(2026, 10, 2, 12, 0, tzinfo=UTC).timestamp()


def test_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    top = [backoff_delay_s(n, random_fraction=lambda: 1.0, base_s=2, cap_s=60) for n in range(1, 8)]
    assert top == [2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert backoff_delay_s(4, random_fraction=lambda: 0.0) == 0.0
    assert backoff_delay_s(4, random_fraction=lambda: 0.5, base_s=2) == 8.0
    seeded = random.Random(7)
    delays = {backoff_delay_s(5, random_fraction=seeded.random, base_s=1) for _ in range(50)}
    assert len(delays) == 50
    assert all(0 <= d < 16 for d in delays)


@given(attempt=st.integers(min_value=1, max_value=10_000), fraction=st.floats(0, 1))
def test_never_negative_never_above_the_cap(attempt: int, fraction: float) -> None:
    delay = backoff_delay_s(attempt, random_fraction=lambda: fraction, cap_s=3600)
    assert 0 <= delay <= 3600


def test_retry_after_is_a_floor_with_a_ceiling() -> None:
    assert backoff_delay_s(1, random_fraction=lambda: 0.5, retry_after_s=30) == 30
    assert backoff_delay_s(9, random_fraction=lambda: 1.0, base_s=2, retry_after_s=30) == 512
    assert backoff_delay_s(1, retry_after_s=10**9) == MAX_RETRY_AFTER_S


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_delay_s(0)


@pytest.mark.parametrize(
    ("header", "expected_s"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW_S + 90, UTC), usegmt=True), 90.0),
        ("Fri, 02 Oct 2026 12:05:00 GMT", 300.0),
        ("Fri, 02 Oct 2026 11:00:00 GMT", 0.0),  # in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("٣", None),  # a digit, but not an ASCII one
    ],
)
def test_parse_retry_after(header: str | None, expected_s: float | None) -> None:
    assert parse_retry_after(header, now_s=NOW_S) == expected_s
