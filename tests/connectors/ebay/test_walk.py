"""The window/page walk and its resume state, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.ebay.walk import MAX_WINDOW, Walk

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 20, tzinfo=UTC)


def _windows(walk: Walk) -> list[tuple[datetime, datetime]]:
    seen = []
    while not walk.done:
        seen.append((walk.window_from, walk.window_to))
        walk = walk.after_page(has_more=False, entries=0)
    return seen


def test_windows_tile_the_walk_and_never_exceed_ebays_cap() -> None:
    windows = _windows(Walk.open(START, END))
    assert windows[0][0] == START
    assert windows[-1][1] == END
    assert all(b - a <= MAX_WINDOW for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
    assert timedelta(days=30) > MAX_WINDOW


def test_pages_advance_within_a_window_and_the_cursor_only_moves_past_finished_windows() -> None:
    walk = Walk.open(START, END, max_window=timedelta(days=40))
    walk = walk.after_page(has_more=True, entries=250)
    assert (walk.page, walk.entries, walk.cursor) == (2, 250, START)
    walk = walk.after_page(has_more=True, entries=250)
    assert (walk.page, walk.entries) == (3, 250)
    walk = walk.after_page(has_more=False, entries=250)
    assert (walk.page, walk.entries) == (1, None)
    assert walk.window_from == walk.cursor == START + timedelta(days=40)
    walk = walk.after_page(has_more=False, entries=3)
    assert walk.done
    assert walk.cursor == END


def test_a_window_that_lost_orders_mid_walk_is_halved_and_walked_again() -> None:
    walk = Walk.open(START, END, max_window=timedelta(days=20))
    walk = walk.after_page(has_more=True, entries=250)
    assert not walk.shrank(250)
    assert walk.shrank(249)
    again = walk.rewalked(249)
    assert again is not None
    assert (again.window_from, again.window_to) == (START, START + timedelta(days=10))
    assert (again.page, again.entries) == (1, None)


def test_a_minute_window_that_keeps_losing_orders_is_walked_again_then_paged_on() -> None:
    walk = Walk.open(START, START + timedelta(seconds=90))
    for restart in range(1, 4):
        walk = walk.after_page(has_more=True, entries=300)
        rewalked = walk.rewalked(299)
        assert rewalked is not None
        assert rewalked.restarts == restart
        assert rewalked.window_to == START + timedelta(seconds=90)
        walk = rewalked
    walk = walk.after_page(has_more=True, entries=300)
    assert walk.rewalked(299) is None
    assert walk.recounted(299).entries == 299


def test_the_state_is_json_and_resumes_exactly() -> None:
    walk = Walk.open(START, END).after_page(has_more=True, entries=120)
    state = json.loads(json.dumps(walk.to_state()))
    assert Walk.from_state(state) == walk


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("version", 99),
        ("walk_to", "2026-03-20T00:00:00"),  # naive
        ("window_from", "yesterday"),
        ("page", 0),
        ("page", "2"),
        ("entries", -1),
        ("done", "no"),
        ("window_to", "2025-01-01T00:00:00+00:00"),  # before window_from
    ],
)
def test_a_state_we_did_not_write_is_refused_naming_the_key_not_the_value(
    key: str, value: object
) -> None:
    state = Walk.open(START, END).to_state() | {key: value}
    with pytest.raises(ValueError, match="resume state") as caught:
        Walk.from_state(state)
    assert str(value) not in str(caught.value) or key == "version"
