"""The HTTP endpoint's ASGI application: probes, and eBay account deletion when configured."""

from __future__ import annotations

from pipeline.http.asgi import Router
from pipeline.http.ebay_deletion import EbayAccountDeletionEndpoint
from pipeline.http.probes import Probes
from pipeline.runtime import Runtime

__all__ = ["EBAY_ACCOUNT_DELETION_PATH", "create_app"]

EBAY_ACCOUNT_DELETION_PATH = "/ebay/account-deletion"


def create_app(runtime: Runtime, *, ebay: EbayAccountDeletionEndpoint | None = None) -> Router:
    """The app; without `ebay` (no `[ebay_notifications]`) its path answers 404."""
    router = Router()
    probes = Probes(runtime)
    router.add("GET", "/healthz", probes.healthz)
    router.add("GET", "/metrics", probes.metrics)
    if ebay is not None:
        router.add("GET", EBAY_ACCOUNT_DELETION_PATH, ebay.challenge)
        router.add("POST", EBAY_ACCOUNT_DELETION_PATH, ebay.notify)
    return router
