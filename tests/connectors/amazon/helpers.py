"""Test helpers for the Amazon connector: settings for a fake seller, clocks, limiters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.amazon import AmazonAccountSettings, AmazonConnector, RetryPolicy
from connectors.fakes import FakeSpApi, SellerSpec
from connectors.fakes.models import models_dir
from connectors.ratelimit import BlockingLimiter, Limiter, MemoryBuckets, UsagePlan

MODELS = models_dir()
SINCE = datetime(2025, 12, 1, tzinfo=UTC)


def model(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((MODELS / name).read_text(encoding="utf-8"))
    return document


def settings_for(
    seller: SellerSpec,
    *,
    endpoint: str,
    lwa_endpoint: str,
    api: str = "2026-01-01",
    client_id: str = "acme",
    account: str = "acme-eu",
) -> AmazonAccountSettings:
    return AmazonAccountSettings(
        client_id=client_id,
        account=account,
        region="eu",
        marketplace_ids=seller.marketplace_ids,
        refresh_token=seller.refresh_token,
        lwa_client_id=seller.lwa_client_id,
        lwa_client_secret=seller.lwa_client_secret,
        orders_api=api,  # type: ignore[arg-type]
        endpoint=endpoint,
        lwa_endpoint=lwa_endpoint,
    )


def settings_at(fake: FakeSpApi, seller: str | None = None, **kwargs: Any) -> AmazonAccountSettings:
    return settings_for(fake.seller(seller), endpoint=fake.url, lwa_endpoint=fake.lwa_url, **kwargs)


@dataclass
class SteppingClock:
    """Time that moves only when slept on: tests never really wait."""

    now_at: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    sleeps_s: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.now_at

    def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_at += timedelta(seconds=seconds)


class RecordingLimiter:
    """A limiter that never waits, and remembers what it was asked."""

    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.observed: dict[str, float] = {}

    def acquire(self, key: str, plan: UsagePlan) -> None:
        self.acquired.append(key)

    def observe_rate(self, key: str, rate_per_s: float) -> None:
        self.observed[key] = rate_per_s


def connector(
    settings: AmazonAccountSettings,
    clock: Any,
    *,
    limiter: Limiter | None = None,
    **kwargs: Any,
) -> AmazonConnector:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=6, base_delay_s=1.0))
    return AmazonConnector(
        settings,
        limiter=limiter or BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep),
        clock=clock.now,
        sleep=clock.sleep,
        **kwargs,
    )


def cassette_path(name: str) -> Path:
    return Path(__file__).parent / "cassettes" / f"{name}.yaml"
