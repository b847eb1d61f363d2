"""Fake marketplaces on loopback, for the demo, the tests and the benchmarks.

Only synthetic buyers and Amazon's own sandbox examples ever pass through them (DPP 2.5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.fakes.clock import ScaledTime
from connectors.fakes.faults import FaultKind

if TYPE_CHECKING:
    from connectors.fakes.spapi import FakeSpApi, SellerSpec

__all__ = ["FakeSpApi", "FaultKind", "ScaledTime", "SellerSpec"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m connectors.fakes.spapi` does not import the module twice.
    if name in ("FakeSpApi", "SellerSpec"):
        from connectors.fakes import spapi

        return getattr(spapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
