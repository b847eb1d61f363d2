"""One GetOrders page through ebaysdk: budget, transport failures, backoff.

Every attempt takes one unit of the account's daily call budget first. Timeouts, refused
connections, HTML or empty bodies and eBay's transient errors are retried with exponential
backoff and jitter through the injected `sleep`; a refused token, a spent budget and eBay's
own usage limit are raised at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.ebay.budget import CallBudget
from connectors.ebay.dates import ebay_time
from connectors.ebay.errors import CallBudgetExhausted, EbayError
from connectors.ebay.response import CALL, OrdersPage, parse_get_orders
from connectors.ebay.settings import EbayAccountSettings

__all__ = ["DEFAULT_RETRY", "GetOrdersCalls", "RetryPolicy"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Backoff before attempt `attempt + 1`: doubling, capped, with half of it jittered."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


DEFAULT_RETRY = RetryPolicy()


class GetOrdersCalls:
    def __init__(
        self,
        settings: EbayAccountSettings,
        connection: Any,
        *,
        budget: CallBudget,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        retry: RetryPolicy,
        timeout_s: float,
    ) -> None:
        self._settings = settings
        self._connection = connection
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._retry = retry
        self._timeout_s = timeout_s
        self.calls_made = 0

    def page(
        self, mod_from: datetime, mod_to: datetime, page_number: int, entries_per_page: int
    ) -> OrdersPage:
        request = {
            "DetailLevel": "ReturnAll",
            "OrderRole": "Seller",
            "OrderStatus": "All",
            "ModTimeFrom": ebay_time(mod_from),
            "ModTimeTo": ebay_time(mod_to),
            "Pagination": {
                "EntriesPerPage": str(entries_per_page),
                "PageNumber": str(page_number),
            },
        }
        attempt = 1
        while True:
            try:
                return self._attempt(request)
            except EbayError as exc:
                if not exc.retry_now or attempt >= self._retry.attempts:
                    raise
                delay_s = self._retry.delay_s(attempt, self._rng)
                log.warning(
                    "eBay account %s: %s (attempt %d of %d); retrying in %.1f s",
                    self._settings.account,
                    exc.message,
                    attempt,
                    self._retry.attempts,
                    delay_s,
                )
                self._sleep(delay_s)
                attempt += 1

    def _attempt(self, request: dict[str, Any]) -> OrdersPage:
        day = self._clock().astimezone(UTC).date()
        if not self._budget.take(self._settings.budget_key, day, self._settings.daily_call_budget):
            raise CallBudgetExhausted(
                f"{CALL}: account {self._settings.account!r} has spent its daily budget of "
                f"{self._settings.daily_call_budget} calls for {day.isoformat()} (UTC)"
            )
        self.calls_made += 1
        connection = self._connection
        # build_request + execute_request is ebaysdk's execute() without its response
        # processing, which we replace (see `response`): it costs two thirds of a pull's time
        # building objects we never read, drops timestamps' timezones, and meets an HTML or
        # empty body with an AttributeError instead of the status.
        connection.build_request(CALL, request, None)
        try:
            connection.execute_request()
        except requests.Timeout:
            raise EbayError(
                f"{CALL}: no answer within {self._timeout_s:g} s", retryable=True
            ) from None
        except requests.ConnectionError as exc:
            raise EbayError(
                f"{CALL}: connection failed ({type(exc).__name__})", retryable=True
            ) from None
        except requests.RequestException as exc:
            raise EbayError(
                f"{CALL}: request failed ({type(exc).__name__})", retryable=False
            ) from None
        raw: requests.Response = connection.response
        page = parse_get_orders(raw.status_code, raw.content, account=self._settings.account)
        if page.warnings:
            codes = ", ".join(w.code or "?" for w in page.warnings)
            log.info("eBay account %s: %s warnings %s", self._settings.account, CALL, codes)
        if page.token_expires:
            log.warning(
                "eBay account %s: the token expires at %s; renew it before then",
                self._settings.account,
                page.token_expires[:32],
            )
        return page
