"""Every Selling Partner API call goes through `Caller.call`: plan, retry, adapt.

Before a call: a fresh LWA token (renewed outside the usage plan), then one token from the
limiter's bucket for (account, operation). After it: the rate Amazon announced in
`x-amzn-RateLimit-Limit` becomes the bucket's rate. A 429, a 5xx, a timeout or a cut-off body is
retried with exponential backoff and jitter (a 429 waits at least one request interval of the
plan); a 401/403 renews the credentials once; anything else is raised at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.amazon.errors import SpApiError
from connectors.amazon.lwa import LwaTokens
from connectors.ratelimit.base import Limiter, Sleep
from connectors.ratelimit.plans import AMAZON_USAGE_PLANS, UsagePlan, parse_rate_limit_header

__all__ = ["DEFAULT_RETRY", "Caller", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0


DEFAULT_RETRY = RetryPolicy()


class Caller:
    def __init__(
        self,
        *,
        limiter: Limiter,
        key_prefix: str,
        lwa: LwaTokens,
        sleep: Sleep,
        rng: random.Random,
        policy: RetryPolicy = DEFAULT_RETRY,
        plans: Mapping[str, UsagePlan] = AMAZON_USAGE_PLANS,
    ) -> None:
        self._limiter = limiter
        self._key_prefix = key_prefix
        self._lwa = lwa
        self._sleep = sleep
        self._rng = rng
        self._policy = policy
        self._plans = dict(plans)
        self.attempts = 0  # requests sent, for tests and metrics

    def plan(self, operation: str) -> UsagePlan:
        return self._plans[operation]

    def call(
        self,
        operation: str,
        client: Any,
        send: Callable[[], Any],
        *,
        on_auth_failure: Callable[[], None] | None = None,
    ) -> Any:
        """Send `send()` (a library call on `client`) under `operation`'s plan, with retries."""
        key = f"{self._key_prefix}/{operation}"
        failures = 0
        renewed_credentials = False
        while True:
            self._ensure_access_token()
            self._limiter.acquire(key, self._plans[operation])
            client.operation = operation
            self.attempts += 1
            try:
                response = send()
            except SpApiError as exc:
                self._observe(key, operation, exc.rate_limit_per_s)
                if exc.auth_failed and not renewed_credentials:
                    renewed_credentials = True
                    self._lwa.invalidate()
                    if on_auth_failure is not None:
                        on_auth_failure()
                    continue
                if not exc.retryable:
                    raise
                error = exc
            except httpx.TimeoutException:
                error = SpApiError(f"{operation}: timed out", retryable=True)
            except httpx.TransportError:
                error = SpApiError(f"{operation}: connection failed", retryable=True)
            else:
                self._observe(key, operation, parse_rate_limit_header(response.rate_limit))
                return response
            failures += 1
            if failures >= self._policy.max_attempts:
                raise SpApiError(
                    f"{error.message} (gave up after {failures} attempts)",
                    retryable=True,
                    status=error.status,
                    throttled=error.throttled,
                ) from None
            self._sleep(self._backoff_s(failures, error, self._plans[operation]))

    def _ensure_access_token(self) -> None:
        failures = 0
        while self._lwa.needs_refresh():
            try:
                self._lwa.refresh()
            except SpApiError as exc:
                failures += 1
                if not exc.retryable or failures >= self._policy.max_attempts:
                    raise
                self._sleep(self._backoff_s(failures, exc, None))

    def _observe(self, key: str, operation: str, rate_per_s: float | None) -> None:
        if rate_per_s is None or rate_per_s == self._plans[operation].rate_per_s:
            return
        self._plans[operation] = self._plans[operation].with_rate(rate_per_s)
        self._limiter.observe_rate(key, rate_per_s)

    def _backoff_s(self, failures: int, error: SpApiError, plan: UsagePlan | None) -> float:
        base_s = self._policy.base_delay_s
        if error.throttled and plan is not None:
            # The bucket is empty on Amazon's side: nothing comes back sooner than one interval.
            base_s = max(base_s, plan.interval_s)
        delay_s = base_s * 2.0 ** (failures - 1)
        # Jitter on top (never below the exponential step) spreads workers that failed together.
        delay_s = min(self._policy.max_delay_s, delay_s * (1.0 + 0.5 * self._rng.random()))
        if error.retry_after_s is not None:
            delay_s = max(delay_s, error.retry_after_s)
        return delay_s
