"""The eBay connector: pages of canonical orders for one seller account, resumable.

    with EbayConnector(settings, budget=budget, clock=clock, sleep=time.sleep) as ebay:
        for page in ebay.pull(saved_state, since=first_start):
            store(page.orders, page.quarantined)
            save_cursor(page.position_at, page.state)   # same transaction as the orders

It stores nothing, streams page by page (memory stays flat however long the walk), and raises
only `ConnectorError` subclasses (retryable or not) whose messages are free of PII. When eBay
refuses the token, `AccountNeedsAttention` is raised, `needs_attention` says why, and every
later pull of this connector raises it again without calling eBay.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from connectors.ebay.budget import CallBudget
from connectors.ebay.calls import DEFAULT_RETRY, GetOrdersCalls, RetryPolicy
from connectors.ebay.connection import build_connection
from connectors.ebay.errors import AccountNeedsAttention
from connectors.ebay.mapping import MappingContext, map_orders
from connectors.ebay.page import Page
from connectors.ebay.quarantine import QuarantineItem
from connectors.ebay.settings import EbayAccountSettings
from connectors.ebay.walk import MAX_WINDOW, Walk
from connectors.errors import ConnectorError
from connectors.order import Order

__all__ = ["DEFAULT_OVERLAP", "EbayConnector"]

log = logging.getLogger(__name__)

#: How far a new walk reaches back before the last one's end (eBay's advice: 2 minutes).
DEFAULT_OVERLAP = timedelta(minutes=2)
# eBay's advice: ask up to 2 minutes before now, so the range is fully indexed.
_UPPER_BOUND_LAG = timedelta(minutes=2)
# GetOrders returns nothing older than 90 days; a day's margin against clock skew.
_LOOKBACK = timedelta(days=89)


class EbayConnector:
    def __init__(
        self,
        settings: EbayAccountSettings,
        *,
        budget: CallBudget,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        overlap: timedelta = DEFAULT_OVERLAP,
        entries_per_page: int = 100,
        max_window: timedelta = MAX_WINDOW,
    ) -> None:
        if not 1 <= entries_per_page <= 100:
            raise ValueError("entries_per_page must be between 1 and 100")
        if not timedelta(minutes=1) <= max_window <= MAX_WINDOW:
            raise ValueError("max_window must be between one minute and 29 days")
        self.settings = settings
        self._clock = clock
        self._overlap = overlap
        self._entries_per_page = entries_per_page
        self._max_window = max_window
        self._connection = build_connection(settings, timeout_s=timeout_s)
        self.calls = GetOrdersCalls(
            settings,
            self._connection,
            budget=budget,
            clock=clock,
            sleep=sleep,
            rng=rng or random.Random(),  # noqa: S311 (jitter, not secrets)
            retry=retry,
            timeout_s=timeout_s,
        )
        self._context = MappingContext(
            client_id=settings.client_id, account=settings.account, site=str(settings.site_id)
        )
        self._refused: AccountNeedsAttention | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def needs_attention(self) -> str | None:
        """Why this account's pulls are stopped (a refused token), else None."""
        return self._refused.message if self._refused else None

    def pull(
        self, state: Mapping[str, Any] | None = None, *, since: datetime | None = None
    ) -> Iterator[Page]:
        """Orders modified since the last pull (`state`), or since `since` on the first one.

        Yields nothing when the new walk would be empty (pulled again within minutes).
        """
        if self._refused is not None:
            raise self._refused
        walk = self._walk(state, since)
        while walk is not None:
            walk = yield from self._next_page(walk)

    def close(self) -> None:
        self._connection.session.close()

    def __enter__(self) -> EbayConnector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the walk --------------------------------------------------------------------------

    def _walk(self, state: Mapping[str, Any] | None, since: datetime | None) -> Walk | None:
        now = self._clock()
        end = (now - _UPPER_BOUND_LAG).astimezone(UTC).replace(microsecond=0)
        oldest = now - _LOOKBACK
        if state is not None:
            try:
                previous = Walk.from_state(dict(state), max_window=self._max_window)
            except ValueError as exc:
                raise ConnectorError(str(exc)) from None
            if not previous.done:
                if previous.window_from >= oldest:
                    return previous
                start = oldest  # killed long ago: what eBay still has
            else:
                start = previous.walk_to - self._overlap
        elif since is not None:
            if since.tzinfo is None:
                raise ConnectorError("`since` must be timezone-aware")
            start = since.astimezone(UTC)
        else:
            raise ConnectorError("the first pull of an account needs `since`")
        if start < oldest:
            log.warning(
                "eBay account %s: GetOrders reaches back 90 days only; starting at %s",
                self.settings.account,
                oldest.isoformat(),
            )
            start = oldest
        if start >= end:
            return None
        return Walk.open(start, end, max_window=self._max_window)

    def _next_page(self, walk: Walk) -> Generator[Page, None, Walk | None]:
        """Fetch and yield the walk's next page; return the walk after it (None when done)."""
        try:
            reply = self.calls.page(
                walk.window_from, walk.window_to, walk.page, self._entries_per_page
            )
        except AccountNeedsAttention as exc:
            self._refused = exc
            log.error("eBay account %s: %s", self.settings.account, exc.message)
            raise
        if walk.shrank(reply.total_entries):
            rewalked = walk.rewalked(reply.total_entries)
            if rewalked is not None:
                return rewalked
            log.warning(
                "eBay account %s: orders keep changing in a one-minute window; paging on",
                self.settings.account,
            )
            walk = walk.recounted(reply.total_entries)
        results = list(map_orders(reply.orders, self._context))
        has_more = reply.has_more and (
            bool(reply.orders) or (reply.total_pages is not None and walk.page < reply.total_pages)
        )
        walk = walk.after_page(has_more=has_more, entries=reply.total_entries)
        yield Page(
            orders=tuple(r for r in results if isinstance(r, Order)),
            quarantined=tuple(r for r in results if isinstance(r, QuarantineItem)),
            state=walk.to_state(),
            position_at=walk.cursor,
            done=walk.done,
        )
        return None if walk.done else walk
