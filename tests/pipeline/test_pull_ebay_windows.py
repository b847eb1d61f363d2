"""An eBay pull across several ModTime windows and pages stores every order once, sealed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.fakes.ebay_trading import EbayAccountSpec, FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller
from storage.models import Order
from tests.configs import ENVIRON
from tests.fixtures.marketplaces import EBAY_KEYS, acme_pulling_from
from tests.fixtures.runtime import Deployment, FakeClock

ORDERS = 400
SPREAD_DAYS = 70  # three 29-day windows, each more than one 100-order page

pytestmark = pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)


@pytest.fixture
def ebay(clock: FakeClock) -> Iterator[FakeEbayTrading]:
    account = EbayAccountSpec(
        token=ENVIRON["ACME_EBAY_TOKEN"],
        orders=ORDERS,
        seed=9,
        start=clock.now - timedelta(days=SPREAD_DAYS + 5),
        spread_days=SPREAD_DAYS,
    )
    with FakeEbayTrading([account], keys=EBAY_KEYS) as fake:
        yield fake


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path) -> str:
    return acme_pulling_from(spapi, ebay, tmp_path / "delivered")


def test_every_order_across_windows_and_pages_is_stored_once_and_sealed(
    deployment: Deployment, ebay: FakeEbayTrading, clock: FakeClock
) -> None:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    try:
        puller = Puller.for_runtime(deployment.runtime, jobs)
        client = deployment.config.client("acme")
        report = puller.pull(client, client.ebay[0], since=clock.now - timedelta(days=85))
    finally:
        jobs.close()
    assert report.error is None
    records = ebay.records
    windows = {(r.mod_from, r.mod_to) for r in records if r.page == 1}
    assert len(windows) >= 3
    assert max(r.page or 0 for r in records) >= 2
    with deployment.runtime.sessions() as session:
        rows = session.execute(
            sa.select(
                Order.marketplace_order_id, Order.version, Order.pii_ciphertext, Order.shred_reason
            )
        ).all()
    # Orders past their retention already (delivered > 30 days ago) hold no PII by design.
    assert len({r.marketplace_order_id for r in rows}) == len(rows)
    assert {r.version for r in rows} == {1}
    sealed = [r for r in rows if r.pii_ciphertext is not None]
    assert len(sealed) > ORDERS // 4
    assert all(r.pii_ciphertext is not None or r.shred_reason == "expired_on_arrival" for r in rows)
    expected = {o.order_id for o in ebay.orders()}
    assert {r.marketplace_order_id for r in rows} == expected
    assert report.created == ORDERS
