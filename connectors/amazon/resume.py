"""The query window a pull walks, and the JSON-able state that lets it resume after a kill.

A window is one query: orders updated (pull) or created (backfill) in [after, before], in the
given marketplaces, through one Orders API version. Amazon pages it with a token that only works
with every other parameter resent unchanged, so the state holds them all. After each stored page
the pipeline saves `Window.to_state()`; handing it back continues with the next page.

Sent upper bounds are fixed when the window opens (Amazon wants them at least two minutes in
the past), so a finished window proves every update up to `before` was seen; the next pull
window starts at `before` minus a small overlap, against late-indexed updates. Orders seen twice
are no-ops in storage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from connectors.amazon.settings import OrdersApi

__all__ = ["STATE_VERSION", "Stream", "Window"]

STATE_VERSION = 1
Stream = Literal["pull", "backfill"]

#: Amazon: a paginationToken expires after 24 hours. Keep a margin for the request itself.
TOKEN_LIFETIME = timedelta(hours=23)


@dataclass(frozen=True)
class Window:
    stream: Stream
    api: OrdersApi
    marketplace_ids: tuple[str, ...]
    after: datetime
    before: datetime
    # Up to when every update was seen before this window: the cursor while it is walked.
    position_at: datetime | None = None
    token: str | None = None
    token_at: datetime | None = None  # when Amazon issued `token`
    done: bool = False

    def next_page(self, token: str | None, *, now: datetime) -> Window:
        if token:
            return replace(self, token=token, token_at=now)
        return replace(self, token=None, token_at=None, done=True)

    def restarted(self) -> Window:
        """The same window from its first page (duplicates are no-ops in storage)."""
        return replace(self, token=None, token_at=None, done=False)

    def token_usable(
        self, *, now: datetime, api: OrdersApi, marketplace_ids: tuple[str, ...]
    ) -> bool:
        return (
            self.token is not None
            and self.token_at is not None
            and now - self.token_at < TOKEN_LIFETIME
            and api == self.api
            and marketplace_ids == self.marketplace_ids
        )

    @property
    def cursor(self) -> datetime | None:
        """What storage records as `position_at` once this state is saved."""
        return self.before if self.done else self.position_at

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "stream": self.stream,
            "api": self.api,
            "marketplace_ids": list(self.marketplace_ids),
            "after": _iso(self.after),
            "before": _iso(self.before),
            "position_at": _iso(self.position_at) if self.position_at else None,
            "token": self.token,
            "token_at": _iso(self.token_at) if self.token_at else None,
            "done": self.done,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Window:
        """Raise ValueError (naming the key, never its value) for a state we did not write."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("resume state: unknown version")
        stream, api = state.get("stream"), state.get("api")
        if stream not in ("pull", "backfill"):
            raise ValueError("resume state: bad stream")
        if api not in ("2026-01-01", "v0"):
            raise ValueError("resume state: bad api")
        ids = state.get("marketplace_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("resume state: bad marketplace_ids")
        token = state.get("token")
        if token is not None and not isinstance(token, str):
            raise ValueError("resume state: bad token")
        return cls(
            stream=stream,
            api=api,
            marketplace_ids=tuple(ids),
            after=_parse(state, "after"),
            before=_parse(state, "before"),
            position_at=_parse(state, "position_at", optional=True),
            token=token,
            token_at=_parse(state, "token_at", optional=True),
            done=bool(state.get("done")),
        )


def amazon_time(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second, as Amazon's examples write it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse(state: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = state.get(key)
    if value is None and optional:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"resume state: bad {key}")
    return parsed.astimezone(UTC)
