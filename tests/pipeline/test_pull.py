"""`Puller`: both fake marketplaces -> sealed orders, cursors, quarantine, forwarding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.ebay import InMemoryCallBudget
from connectors.fakes.ebay_trading import FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller, PullReport
from storage import audit, get_cursor
from storage.models import AuditEvent, Order, QuarantineEntry
from tests.fixtures.marketplaces import acme_pulling_from
from tests.fixtures.runtime import Deployment, FakeClock

AMAZON_ORDERS = 130
EBAY_ORDERS = 70
EBAY_MALFORMED = 2


@pytest.fixture
def amazon_orders() -> int:
    return AMAZON_ORDERS


@pytest.fixture
def ebay_orders() -> int:
    return EBAY_ORDERS


@pytest.fixture
def ebay_malformed() -> int:
    return EBAY_MALFORMED


@pytest.fixture
def orders_api() -> str:
    return "2026-01-01"


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path, orders_api: str) -> str:
    """acme pulls from the fakes and delivers into a folder."""
    return acme_pulling_from(spapi, ebay, tmp_path / "delivered", orders_api=orders_api)


@pytest.fixture
def puller(deployment: Deployment, spapi: FakeSpApi) -> Iterator[Puller]:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    yield Puller(deployment.runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep)
    jobs.close()


@pytest.mark.parametrize("orders_api", ["2026-01-01", "v0"])
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


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way catches it."""


def test_a_backfill_killed_midway_resumes_and_stores_every_order_once(
    deployment: Deployment, puller: Puller, clock: FakeClock
) -> None:
    client = deployment.config.client("acme")
    since = clock.now - timedelta(days=40)

    stored_before_kill: list[int] = []

    def kill_after_first_page(report: PullReport) -> None:
        if report.pages == 1:
            stored_before_kill.append(report.orders)
            raise Killed

    with pytest.raises(Killed):
        puller.pull(
            client, client.amazon[0], stream="backfill", since=since, on_page=kill_after_first_page
        )
    with deployment.runtime.sessions() as session:
        first = session.scalar(sa.select(sa.func.count()).select_from(Order))
        cursor = get_cursor(session, "acme", "amazon", "acme-eu", "backfill")
    assert cursor is not None
    (page_one,) = stored_before_kill
    # Pages are written one ahead of the cursor: the page after the killed one may be stored
    # already, which the cursor does not know; the resume stores it again, as unchanged.
    assert 0 < page_one < AMAZON_ORDERS
    assert page_one <= (first or 0) <= AMAZON_ORDERS

    resumed = puller.pull(client, client.amazon[0], stream="backfill", since=since)
    assert resumed.error is None
    assert resumed.created == AMAZON_ORDERS - (first or 0)
    assert resumed.created + resumed.unchanged == AMAZON_ORDERS - page_one
    with deployment.runtime.sessions() as session:
        rows = session.execute(sa.select(Order.marketplace_order_id, Order.version)).all()
    assert len(rows) == AMAZON_ORDERS
    assert len({r.marketplace_order_id for r in rows}) == AMAZON_ORDERS
    assert {r.version for r in rows} == {1}


def test_a_refused_ebay_token_holds_the_account_until_a_new_token_is_configured(
    deployment: Deployment, puller: Puller, ebay: FakeEbayTrading
) -> None:
    from tests.configs import ENVIRON

    client = deployment.config.client("acme")
    ebay.expire_token(ENVIRON["ACME_EBAY_TOKEN"])
    first = puller.pull(client, client.ebay[0])
    assert first.error is not None
    calls = ebay.count()
    # Held: the next pull does not call eBay at all, and says why and what to do.
    held = puller.pull(client, client.ebay[0])
    assert held.error is not None
    assert "put a new token in the client file" in held.error
    assert ebay.count() == calls
    assert ENVIRON["ACME_EBAY_TOKEN"] not in held.error
    # A different token in the config releases the hold (eBay then answers for itself).
    from pipeline.secrets import Secret

    renewed = client.ebay[0].model_copy(update={"token": Secret("env:NEW", "v^1.1#renewed")})
    again = puller.pull(client, renewed)
    assert "put a new token" not in (again.error or "")
    assert ebay.count() > calls


def test_a_broken_payload_seen_again_is_quarantined_once(
    deployment: Deployment, puller: Puller
) -> None:
    from types import SimpleNamespace

    client = deployment.config.client("acme")
    broken = SimpleNamespace(
        payload=b'{"OrderID": "x", "Buyer": "Quarantine Twice"}',
        reason="missing field",
        field="OrderID",
        marketplace_order_id="12-34567-89012",
    )
    other = SimpleNamespace(**{**vars(broken), "payload": b'{"OrderID": "y"}'})
    for item in (broken, broken, other):
        puller._quarantine(client, "ebay", "acme-ebay", item)
    with deployment.runtime.sessions() as session:
        rows = session.execute(sa.select(QuarantineEntry)).scalars().all()
        actions = [e.action for e in session.execute(sa.select(AuditEvent)).scalars()]
    assert len(rows) == 2
    assert all(r.payload_digest and len(r.payload_digest) == 64 for r in rows)
    assert actions.count("quarantine") == 2
