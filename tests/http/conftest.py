"""A deployment with three clients, the HTTP app over it, and eBay's key endpoint on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pytest

from connectors.order import Buyer, Marketplace
from pipeline.config import load_config
from pipeline.http.app import create_app
from pipeline.http.asgi import Router
from pipeline.http.ebay_deletion import EbayAccountDeletionEndpoint
from pipeline.http.ebay_keys import EbayKeySettings, HttpKeyFetcher, PublicKeyCache
from pipeline.ingest import Ingestor
from pipeline.jobs.account_deletion import register_account_deletion_actor
from pipeline.jobs.actors import MAINTENANCE_QUEUE
from pipeline.jobs.broker import make_broker, worker
from pipeline.runtime import Runtime
from pipeline.secrets import Secret
from tests.configs import ENVIRON
from tests.factories import make_order
from tests.fixtures.runtime import Deployment
from tests.http.ebay_fakes import APP_TOKEN, KeyServer, SigningKey, key_server

ENDPOINT_URL = "https://ordervault.example/ebay/account-deletion"
VERIFICATION_TOKEN = "my-verification-token_0123456789abcdefghijkl"

# The user eBay asks us to forget, and other buyers who must survive.
USER_ID = "ebay-user-qv8841zq"
USERNAME = "zqxjw_buyer"
EIAS = "nY+sHZ2PrBmdj6wVnY+sEZ2PrA2dj6wFk4GlDpSEowydj6x9nY+seQ=="
IDENTIFIERS = (USER_ID, USERNAME, EIAS)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class _Host:
    broker: dramatiq.Broker
    runtime: Runtime


@dataclass
class Service:
    """The HTTP endpoint's side: runtime over all clients, inline broker, erase messages sent."""

    runtime: Runtime
    broker: dramatiq.Broker
    key_url: str
    sent: list[tuple[Any, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._actor = register_account_deletion_actor(_Host(self.broker, self.runtime))

    def send_erase(self, client_id: str, digests: dict[str, str], notification_id: str) -> None:
        self.sent.append((client_id, digests, notification_id))
        self._actor.send(client_id, digests, notification_id)

    def endpoint(self, *, app_token: str = APP_TOKEN) -> EbayAccountDeletionEndpoint:
        keys = EbayKeySettings(
            app_token=Secret("env:EBAY_APP_TOKEN", app_token), public_key_url=self.key_url
        )
        return EbayAccountDeletionEndpoint(
            self.runtime,
            endpoint_url=ENDPOINT_URL,
            verification_token=Secret("env:EBAY_VERIFICATION_TOKEN", VERIFICATION_TOKEN),
            keys=PublicKeyCache(
                HttpKeyFetcher(keys),
                ttl_s=keys.ttl_s,
                clock_s=lambda: self.runtime.clock().timestamp(),
            ),
            send_erase=self.send_erase,
        )

    def app(self, *, app_token: str = APP_TOKEN) -> Router:
        return create_app(self.runtime, ebay=self.endpoint(app_token=app_token))

    def drain(self) -> None:
        """Run every enqueued erasure to completion, as a worker would."""
        consumer = worker(self.broker, threads=1)
        consumer.start()
        try:
            self.broker.join(MAINTENANCE_QUEUE, timeout=30_000, fail_fast=True)  # type: ignore[call-arg]
        finally:
            consumer.stop()


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey("99345fb2d3ab4a3ea43c2b5a7e4e5c1a")


@pytest.fixture
def ebay_keys(signing_key: SigningKey) -> Iterator[KeyServer]:
    with key_server(signing_key) as server:
        yield server


@pytest.fixture
def service(deployment: Deployment, ebay_keys: KeyServer) -> Iterator[Service]:
    clients = deployment.root / "clients"
    (clients / "globex.toml").write_text('id = "globex"\nname = "Globex"\n')
    # Never pulled anything: holds no index key, so it gets no erase message.
    (clients / "initech.toml").write_text('id = "initech"\nname = "Initech"\n')
    config = load_config(deployment.root / "ordervault.toml", environ=ENVIRON)
    runtime = Runtime.open(config, clock=deployment.clock)
    broker = make_broker("inline")
    try:
        yield Service(runtime, broker, ebay_keys.base_url)
    finally:
        broker.close()
        runtime.close()


def _store_ebay(runtime: Runtime, client_id: str, order_no: str, buyer: Buyer) -> int:
    order = make_order(
        client_id=client_id,
        marketplace=Marketplace.EBAY,
        account=f"{client_id}-ebay",
        marketplace_order_id=f"12-{order_no}-00001",
        buyer=buyer,
    )
    return Ingestor(runtime).store(runtime.config.client(client_id), order).order_id


@pytest.fixture
def orders(service: Service) -> dict[str, int]:
    """Order ids by name; names starting with `user_` are the deleted user's."""
    rt = service.runtime
    return {
        "user_acme_all_ids": _store_ebay(
            rt,
            "acme",
            "0001",
            Buyer(name="Subject", marketplace_buyer_id=USER_ID, username=USERNAME, eias_token=EIAS),
        ),
        "user_acme_username": _store_ebay(rt, "acme", "0002", Buyer(username=USERNAME)),
        "user_globex_eias": _store_ebay(rt, "globex", "0003", Buyer(eias_token=EIAS)),
        "other_acme": _store_ebay(
            rt, "acme", "0004", Buyer(username="someone_else", eias_token="other-eias-token")
        ),
        "other_acme_amazon": Ingestor(rt)
        .store(
            rt.config.client("acme"),
            make_order(buyer=Buyer(name="Amazon Buyer", email="amazon.buyer@example.invalid")),
        )
        .order_id,
        "other_globex": _store_ebay(
            rt, "globex", "0005", Buyer(marketplace_buyer_id="ebay-user-other", username="x_y")
        ),
    }
