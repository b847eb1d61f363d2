"""The window/page walk of one pull, and the JSON-able state that resumes it after a kill.

A walk covers orders modified in [walk_from, walk_to): `walk_to` is fixed when the walk opens
(a little before "now", so eBay has indexed everything up to it). eBay caps one GetOrders
ModTime range at 30 days, so the walk goes window by window, each at most `max_window`, and
pages each window by number until `HasMoreOrders` is false.

Page numbers only address a stable set. A window lies in the past, so orders can leave it
(modified again now, they move to a later window) but not enter it. When one leaves while the
window is walked, every later order moves up a place and one could fall between two pages
unseen. `TotalNumberOfEntries` shows it: when it drops below the first page's count, the
window is halved (fewer pages, less exposure) and walked again from page 1. Orders seen
twice are no-ops in storage; orders never seen would be lost.

The cursor (`position_at`): every order modified before it has been yielded. It is the
current window's start while the walk runs, and `walk_to` once it is done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["MAX_WINDOW", "STATE_VERSION", "Walk"]

STATE_VERSION = 1
#: eBay caps ModTimeFrom..ModTimeTo at 30 days; a day's margin keeps skewed clocks inside it.
MAX_WINDOW = timedelta(days=29)
# Below this a window is walked again rather than halved (a minute of >100 updates).
_MIN_SPLIT = timedelta(minutes=1)
_MAX_RESTARTS = 3


@dataclass(frozen=True)
class Walk:
    walk_from: datetime
    walk_to: datetime
    window_from: datetime
    window_to: datetime
    page: int = 1  # the next page to fetch
    entries: int | None = None  # TotalNumberOfEntries on this window's first page
    restarts: int = 0
    done: bool = False
    # A setting of the connector, not part of the state: windows opened later follow it.
    max_window: timedelta = MAX_WINDOW

    @classmethod
    def open(cls, start: datetime, end: datetime, *, max_window: timedelta = MAX_WINDOW) -> Walk:
        return cls(
            walk_from=start,
            walk_to=end,
            window_from=start,
            window_to=min(end, start + max_window),
            max_window=max_window,
        )

    @property
    def cursor(self) -> datetime:
        return self.walk_to if self.done else self.window_from

    def after_page(self, *, has_more: bool, entries: int | None) -> Walk:
        if has_more:
            first = self.entries if self.entries is not None else entries
            return replace(self, page=self.page + 1, entries=first)
        if self.window_to >= self.walk_to:
            return replace(self, page=1, entries=None, restarts=0, done=True)
        return replace(
            self,
            window_from=self.window_to,
            window_to=min(self.walk_to, self.window_to + self.max_window),
            page=1,
            entries=None,
            restarts=0,
        )

    def shrank(self, entries: int | None) -> bool:
        """Did orders leave the window since its first page was read?"""
        return (
            self.page > 1
            and self.entries is not None
            and entries is not None
            and entries < self.entries
        )

    def rewalked(self, entries: int | None) -> Walk | None:
        """The walk after the window shrank; None when it keeps shrinking and cannot split."""
        span = self.window_to - self.window_from
        if span >= 2 * _MIN_SPLIT:
            middle = (self.window_from + span / 2).replace(microsecond=0)
            return replace(self, window_to=middle, page=1, entries=None, restarts=0)
        if self.restarts < _MAX_RESTARTS:
            return replace(self, page=1, entries=None, restarts=self.restarts + 1)
        return None

    def recounted(self, entries: int | None) -> Walk:
        """Page on from here against a new count (when the window cannot be walked again)."""
        return replace(self, entries=entries)

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "walk_from": _iso(self.walk_from),
            "walk_to": _iso(self.walk_to),
            "window_from": _iso(self.window_from),
            "window_to": _iso(self.window_to),
            "page": self.page,
            "entries": self.entries,
            "restarts": self.restarts,
            "done": self.done,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, max_window: timedelta = MAX_WINDOW) -> Walk:
        """Raise ValueError (naming the key, never its value) for a state we did not write."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("resume state: unknown version")
        walk = cls(
            walk_from=_time(state, "walk_from"),
            walk_to=_time(state, "walk_to"),
            window_from=_time(state, "window_from"),
            window_to=_time(state, "window_to"),
            page=_count(state, "page", minimum=1),
            entries=_count(state, "entries", minimum=0, optional=True),
            restarts=_count(state, "restarts", minimum=0),
            done=_flag(state, "done"),
            max_window=max_window,
        )
        if not walk.walk_from <= walk.window_from < walk.window_to <= walk.walk_to:
            raise ValueError("resume state: windows out of order")
        if walk.window_to - walk.window_from > MAX_WINDOW:
            raise ValueError("resume state: window wider than eBay allows")
        return walk


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _time(state: dict[str, Any], key: str) -> datetime:
    value = state.get(key)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"resume state: bad {key}")
    return parsed.astimezone(UTC)


def _count(state: dict[str, Any], key: str, *, minimum: int, optional: bool = False) -> Any:
    value = state.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"resume state: bad {key}")
    return value


def _flag(state: dict[str, Any], key: str) -> bool:
    value = state.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"resume state: bad {key}")
    return value
