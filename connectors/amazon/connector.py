"""The Amazon connector: pages of canonical orders for one seller account, resumable.

    with AmazonConnector(settings, limiter=limiter, clock=clock, sleep=time.sleep) as amazon:
        for page in amazon.pull(saved_state, since=first_start):
            store(page.orders, page.quarantined)
            save_cursor(page.position_at, page.state)   # same transaction as the orders

It stores nothing, streams page by page (memory stays flat however long the backfill), and
raises only `ConnectorError` (retryable or not) with messages free of PII.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

import httpx

from connectors.amazon.calls import DEFAULT_RETRY, Caller, RetryPolicy
from connectors.amazon.errors import SpApiError
from connectors.amazon.get_orders_v0 import GetOrdersV0
from connectors.amazon.lwa import LwaTokens
from connectors.amazon.mapping import MappingContext
from connectors.amazon.page import Page
from connectors.amazon.quarantine import QuarantineItem
from connectors.amazon.resume import Stream, Window
from connectors.amazon.search_v2026 import SearchOrders
from connectors.amazon.settings import AmazonAccountSettings
from connectors.amazon.sp_clients import build_clients
from connectors.errors import ConnectorError
from connectors.order import Order
from connectors.ratelimit.base import Clock, Limiter, Sleep
from connectors.ratelimit.plans import AMAZON_USAGE_PLANS, UsagePlan

__all__ = ["DEFAULT_OVERLAP", "AmazonConnector"]

#: How far a new pull window reaches back before the last one's end (late-indexed updates).
DEFAULT_OVERLAP = timedelta(minutes=5)
# Amazon: an upper bound must be at least two minutes before the request; a little more for skew.
_UPPER_BOUND_LAG = timedelta(minutes=3)


class _Walker(Protocol):
    def fetch(
        self, window: Window, ctx: MappingContext
    ) -> tuple[Iterator[Order | QuarantineItem], str | None]: ...


class AmazonConnector:
    def __init__(
        self,
        settings: AmazonAccountSettings,
        *,
        limiter: Limiter,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        overlap: timedelta = DEFAULT_OVERLAP,
        page_size: int = 100,
        plans: Mapping[str, UsagePlan] = AMAZON_USAGE_PLANS,
    ) -> None:
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100")
        self.settings = settings
        self._clock = clock
        self._overlap = overlap
        self._lwa_http = httpx.Client(timeout=timeout_s)
        self.lwa = LwaTokens(settings, clock=clock, http=self._lwa_http)
        self._clients = build_clients(settings, self.lwa, clock=clock, timeout_s=timeout_s)
        self.caller = Caller(
            limiter=limiter,
            key_prefix=settings.limiter_prefix,
            lwa=self.lwa,
            sleep=sleep,
            rng=rng or random.Random(),  # noqa: S311 (jitter, not secrets)
            policy=retry,
            plans=plans,
        )
        self._walker: _Walker
        if settings.orders_api == "v0":
            self.v0 = GetOrdersV0(self._clients, self.caller, clock=clock, page_size=page_size)
            self._walker = self.v0
        else:
            self._walker = SearchOrders(self._clients, self.caller, page_size=page_size)

    # -- public ----------------------------------------------------------------------------

    def pull(
        self, state: Mapping[str, Any] | None = None, *, since: datetime | None = None
    ) -> Iterator[Page]:
        """Orders updated since the last pull (`state`), or since `since` on the first one.

        Yields nothing when the new window would be empty (pulled again within minutes).
        """
        window = self._pull_window(state, since)
        if window is not None:
            yield from self._walk(window)

    def backfill(
        self,
        *,
        created_after: datetime,
        created_before: datetime | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> Iterator[Page]:
        """Orders created in [created_after, created_before]; `state` resumes a killed backfill."""
        if state is not None:
            window = self._resumed(state, "backfill")
            if window.done:
                return
        else:
            latest = self._upper_bound()
            before = min(created_before, latest) if created_before else latest
            if created_after >= before:
                return
            window = self._window("backfill", created_after, before, position_at=created_after)
        yield from self._walk(window)

    @property
    def restricted_data_tokens_minted(self) -> int:
        return self.v0.rdt.minted_count if self.settings.orders_api == "v0" else 0

    def close(self) -> None:
        self._clients.close()
        self._lwa_http.close()

    def __enter__(self) -> AmazonConnector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- windows ---------------------------------------------------------------------------

    def _pull_window(
        self, state: Mapping[str, Any] | None, since: datetime | None
    ) -> Window | None:
        if state is not None:
            previous = self._resumed(state, "pull")
            if not previous.done:
                return previous
            after, position_at = previous.before - self._overlap, previous.before
        elif since is not None:
            after, position_at = since, since
        else:
            raise ConnectorError("the first pull of an account needs `since`")
        before = self._upper_bound()
        if after >= before:
            return None
        return self._window("pull", after, before, position_at=position_at)

    def _upper_bound(self) -> datetime:
        # Whole seconds: the bound Amazon is sent and the one the state keeps must agree.
        return (self._clock() - _UPPER_BOUND_LAG).replace(microsecond=0)

    def _window(
        self, stream: Stream, after: datetime, before: datetime, *, position_at: datetime
    ) -> Window:
        return Window(
            stream=stream,
            api=self.settings.orders_api,
            marketplace_ids=self.settings.marketplace_ids,
            after=after,
            before=before,
            position_at=position_at,
        )

    def _resumed(self, state: Mapping[str, Any], stream: Stream) -> Window:
        try:
            window = Window.from_state(dict(state))
        except ValueError as exc:
            raise ConnectorError(str(exc)) from None
        if window.stream != stream:
            raise ConnectorError(f"resume state is for a {window.stream}, not a {stream}")
        if window.done or window.token is None:
            return window
        if window.token_usable(
            now=self._clock(),
            api=self.settings.orders_api,
            marketplace_ids=self.settings.marketplace_ids,
        ):
            return window
        # Expired token, or the account moved API or marketplaces: walk the window again.
        return Window(
            stream=stream,
            api=self.settings.orders_api,
            marketplace_ids=self.settings.marketplace_ids,
            after=window.after,
            before=window.before,
            position_at=window.position_at,
        )

    # -- pages -----------------------------------------------------------------------------

    def _walk(self, window: Window) -> Iterator[Page]:
        restarted = False
        while True:
            ctx = MappingContext(
                client_id=self.settings.client_id,
                account=self.settings.account,
                observed_at=self._clock(),
            )
            try:
                mapped, token = self._walker.fetch(window, ctx)
                results = list(mapped)
            except SpApiError as exc:
                if window.token is not None and exc.status == 400 and not restarted:
                    # Amazon refused the token (expired, or the parameters changed).
                    window, restarted = window.restarted(), True
                    continue
                raise
            window = window.next_page(token, now=self._clock())
            yield Page(
                orders=tuple(r for r in results if isinstance(r, Order)),
                quarantined=tuple(r for r in results if isinstance(r, QuarantineItem)),
                state=window.to_state(),
                position_at=window.cursor,
                done=window.done,
            )
            if window.done:
                return
