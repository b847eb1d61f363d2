"""Amazon Selling Partner API connector: Orders API v2026-01-01 (default) and v0.

Public face: `AmazonConnector(settings, limiter=..., clock=..., sleep=...)` with `pull` and
`backfill` yielding `Page`s of canonical orders and `QuarantineItem`s plus a resume state.
"""

from connectors.amazon.calls import RetryPolicy
from connectors.amazon.connector import DEFAULT_OVERLAP, AmazonConnector
from connectors.amazon.errors import SpApiError
from connectors.amazon.mapping import MappingContext, map_v0, map_v2026
from connectors.amazon.page import Page
from connectors.amazon.quarantine import QuarantineItem
from connectors.amazon.settings import AmazonAccountSettings

__all__ = [
    "DEFAULT_OVERLAP",
    "AmazonAccountSettings",
    "AmazonConnector",
    "MappingContext",
    "Page",
    "QuarantineItem",
    "RetryPolicy",
    "SpApiError",
    "map_v0",
    "map_v2026",
]
