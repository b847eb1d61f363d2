"""`Puller`: both fake marketplaces -> sealed orders, cursors, quarantine, forwarding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.ebay import InMemoryCallBudget
from connectors.fakes.ebay_trading import EbayAccountSpec, FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.fakes.spapi_state import SellerSpec
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller
from storage import audit, get_cursor
from storage.models import AuditEvent, Order, QuarantineEntry
from tests.configs import ACME, ENVIRON
from tests.fixtures.runtime import Deployment, FakeClock

AMAZON_ORDERS = 130
EBAY_ORDERS = 70
EBAY_MALFORMED = 2
EBAY_KEYS = {
    "app_id": ENVIRON["EBAY_APP_ID"],
    "dev_id": ENVIRON["EBAY_DEV_ID"],
    "cert_id": ENVIRON["EBAY_CERT_ID"],
}


@pytest.fixture
def spapi(clock: FakeClock) -> Iterator[FakeSpApi]:
    seller = SellerSpec(
        refresh_token=ENVIRON["ACME_SPAPI_REFRESH_TOKEN"],
        lwa_client_id=ENVIRON["SPAPI_LWA_CLIENT_ID"],
        lwa_client_secret="synthetic-lwa-secret",
        orders=AMAZON_ORDERS,
        seed=3,
    )
    with FakeSpApi(
        [seller],
        time_scale=2000.0,
        epoch=clock.now,
        # Old enough that every order's last update is inside the first pull's window.
        orders_start=clock.now - timedelta(days=25),
        spread_days=10,
    ) as fake:
        yield fake


@pytest.fixture
def ebay(clock: FakeClock) -> Iterator[FakeEbayTrading]:
    account = EbayAccountSpec(
        token=ENVIRON["ACME_EBAY_TOKEN"],
        orders=EBAY_ORDERS,
        seed=5,
        start=clock.now - timedelta(days=25),
        spread_days=10,
        malformed=EBAY_MALFORMED,
    )
    with FakeEbayTrading([account], keys=EBAY_KEYS) as fake:
        yield fake


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path) -> str:
    amazon = f'endpoint = "{spapi.url}"\nlwa_endpoint = "{spapi.lwa_url}"'
    webhook = 'type = "webhook"\nurl = "https://erp.acme.example/orders"\n'
    return (
        ACME.replace('orders_api = "2026-01-01"', f'orders_api = "2026-01-01"\n{amazon}')
        .replace("site_id = 3", f'site_id = 3\nendpoint = "{ebay.url}"')
        .replace(
            webhook + 'secret = "env:ACME_WEBHOOK_SECRET"',
            f'type = "directory"\npath = "{tmp_path / "delivered"}"',
        )
    )


@pytest.fixture
def puller(deployment: Deployment, spapi: FakeSpApi) -> Iterator[Puller]:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    yield Puller(deployment.runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep)
    jobs.close()


def test_both_marketplaces_are_pulled_sealed_and_forwarded(
    deployment: Deployment, puller: Puller, tmp_path: Path
) -> None:
    client = deployment.config.client("acme")
    amazon = puller.pull(client, client.amazon[0])
    ebay = puller.pull(client, client.ebay[0])
    puller.jobs.drain()
    assert (amazon.error, ebay.error) == (None, None)
    assert amazon.created == AMAZON_ORDERS
    assert ebay.created == EBAY_ORDERS - EBAY_MALFORMED
    assert ebay.quarantined == EBAY_MALFORMED
    with deployment.runtime.sessions() as session:
        rows = session.execute(sa.select(Order)).scalars().all()
        assert len(rows) == AMAZON_ORDERS + EBAY_ORDERS - EBAY_MALFORMED
        assert all(r.pii_ciphertext is not None for r in rows)
        quarantined = session.execute(sa.select(QuarantineEntry)).scalars().all()
        assert len(quarantined) == EBAY_MALFORMED
        assert all(q.field and q.sealed_payload for q in quarantined)
        actions = [e.action for e in session.execute(sa.select(AuditEvent)).scalars()]
        assert actions.count("quarantine") == EBAY_MALFORMED
        assert audit.verify(session).ok
        cursor = get_cursor(session, "acme", "amazon", "acme-eu", "incremental")
        assert cursor is not None
        assert cursor.position_at is not None
    delivered_lines = sum(
        len(f.read_text().splitlines()) for f in (tmp_path / "delivered").glob("*.jsonl")
    )
    assert delivered_lines == AMAZON_ORDERS + EBAY_ORDERS - EBAY_MALFORMED

    # The next pull resumes from the cursors: the overlap brings nothing new.
    again = puller.pull(client, client.amazon[0])
    assert again.created == 0
    assert again.error is None
