"""Fixtures for the Amazon connector tests: fake SP-API servers, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.fakes import FakeSpApi, SellerSpec
from tests.connectors.amazon.helpers import MODELS


@pytest.fixture(scope="session", autouse=True)
def _amazon_models() -> None:
    if not MODELS.is_dir():
        pytest.fail(f"Amazon API models missing at {MODELS} (set ORDERVAULT_SPAPI_MODELS)")


@pytest.fixture
def fake_spapi() -> Iterator[Callable[..., FakeSpApi]]:
    """`fake_spapi(SellerSpec(orders=30), time_scale=..., enforce_plans=...)` -> running fake."""
    started: list[FakeSpApi] = []

    def start(*sellers: SellerSpec, **kwargs: Any) -> FakeSpApi:
        fake = FakeSpApi(sellers or (SellerSpec(),), **kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()
