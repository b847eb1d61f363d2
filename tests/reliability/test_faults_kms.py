"""The root-key provider (AWS KMS) becomes unreachable in the middle of a pull, then returns.

The deployment's root key is a KMS key in moto's KMS (`faults.KmsServer`), reached through a
proxy the test cuts after the first page of an Amazon pull from the fake SP-API (the second,
already sealed by then, is still stored: a pull seals one page ahead of its writes). The key-store
cache holds a single bucket key, so every change of expiry day needs KMS. While KMS is away: no
order may be stored in clear (every stored order is sealed, the leak scan finds nothing), and
the pull stops with an error that names KMS (in its report and the audit log), never half a
page. When KMS is back the next pull resumes from the cursor, and every order is stored once
and forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

from connectors.ebay import InMemoryCallBudget
from connectors.fakes.ebay_trading import FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from pipeline import leak_scan
from pipeline.config import load_config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller, PullReport
from pipeline.runtime import Runtime
from storage import get_cursor
from storage.models import AuditEvent, Order
from tests.configs import ENVIRON, write_config
from tests.fixtures.databases import MigratedDatabase, _migrated_db
from tests.fixtures.marketplaces import acme_pulling_from
from tests.fixtures.runtime import FakeClock, settings_for
from tests.reliability.faults import KmsServer, Tally, TcpProxy

AMAZON_ORDERS = 250  # three pages of at most 100
REGION = "eu-central-1"

pytestmark = pytest.mark.postgres


@pytest.fixture
def amazon_orders() -> int:
    return AMAZON_ORDERS


@pytest.fixture
def ebay_orders() -> int:
    return 1


@pytest.fixture
def kms_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TcpProxy, str]]:
    """A moto KMS server behind a proxy that can be cut; yields (proxy, key ARN)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        # One attempt per KMS call: botocore's own retries are not under test, and they would
        # stretch each failed call over several seconds.
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    with KmsServer() as server:
        proxy = TcpProxy(("127.0.0.1", server.port)).start()
        try:
            direct = boto3.client("kms", region_name=REGION, endpoint_url=server.url)
            arn = direct.create_key(Description="ordervault fault test")["KeyMetadata"]["Arn"]
            yield proxy, arn
        finally:
            proxy.close()


@pytest.fixture(params=["postgresql"])  # _migrated_db reads the dialect from the param
def runtime(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    kms_proxy: tuple[TcpProxy, str],
    spapi: FakeSpApi,
    ebay: FakeEbayTrading,
) -> Iterator[Runtime]:
    """A deployment on PostgreSQL whose root key is the KMS key, with a one-key cache."""
    data_gen = _migrated_db(request, tmp_path, keystore=False)
    keys_gen = _migrated_db(request, tmp_path, keystore=True)
    data_db: MigratedDatabase = next(data_gen)
    keystore_db: MigratedDatabase = next(keys_gen)
    proxy, arn = kms_proxy
    settings = (
        settings_for(data_db.url, keystore_db.url)
        .replace(
            'provider = "local"',
            f'provider = "aws-kms"\nkey_id = "{arn}"\nregion = "{REGION}"\n'
            f'endpoint_url = "http://127.0.0.1:{proxy.port}"',
        )
        .replace("[keystore]\n", "[keystore]\ncache_size = 1\n")
    )
    acme = acme_pulling_from(spapi, ebay, tmp_path / "delivered")
    path = write_config(tmp_path / "deploy", {"acme": acme}, settings=settings)
    opened = Runtime.open(load_config(path, environ=ENVIRON), clock=clock)
    try:
        yield opened
    finally:
        opened.close()
        for gen in (data_gen, keys_gen):
            for _ in gen:
                pass


def sealed_counts(runtime: Runtime) -> tuple[int, int]:
    """(orders stored, orders stored without sealed PII and its wrapped key)."""
    with runtime.sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0
        clear = session.scalar(
            sa.select(sa.func.count())
            .select_from(Order)
            .where(sa.or_(Order.pii_ciphertext.is_(None), Order.wrapped_data_key.is_(None)))
        )
    return total, clear or 0


def delivered_lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in folder.glob("*.jsonl") for line in f.read_text().splitlines()]


def test_kms_unreachable_mid_pull_stops_cleanly_and_resumes(
    runtime: Runtime,
    kms_proxy: tuple[TcpProxy, str],
    spapi: FakeSpApi,
    clock: FakeClock,
    tmp_path: Path,
    tally: Tally,
) -> None:
    proxy, _ = kms_proxy
    client = runtime.config.client("acme")
    account = client.amazon[0]
    jobs = Jobs(make_broker("inline"), runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    puller = Puller(runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep)
    tally.orders_in = AMAZON_ORDERS

    def cut_after_first_page(report: PullReport) -> None:
        if report.pages == 1:
            proxy.cut()

    try:
        with tally.timed("pull_cut"):
            stopped = puller.pull(client, account, on_page=cut_after_first_page)
        stored_while_cut, clear = sealed_counts(runtime)
        assert clear == 0, "an order was stored without sealed PII"
        # Pages are sealed one ahead of the write: the second was sealed before the cut, so
        # the pull stores it and stops when sealing the third needs KMS.
        assert stopped.pages == 2
        assert stored_while_cut == stopped.orders
        assert "AWS KMS" in (stopped.error or "")
        assert stored_while_cut < AMAZON_ORDERS

        # Still away: the next pull stops at once, with the same error, storing nothing.
        again = puller.pull(client, account)
        assert "AWS KMS" in (again.error or "")
        assert sealed_counts(runtime) == (stored_while_cut, 0)

        proxy.restore()
        with tally.timed("pull_resumed"):
            resumed = puller.pull(client, account)
            jobs.drain()
            # Had the cut stopped a page after some of its orders were stored, their rows
            # would have no message: the sweep (once they count as lost) forwards them.
            clock.advance(seconds=runtime.config.settings.outbox.lost_after_s + 1)
            jobs.sweep.send()
            jobs.drain()
    finally:
        jobs.close()
    assert resumed.error is None
    assert sealed_counts(runtime) == (AMAZON_ORDERS, 0)
    with runtime.sessions() as session:
        failures = session.scalars(
            sa.select(AuditEvent.details).where(AuditEvent.action == "pull_failed")
        ).all()
        cursor = get_cursor(session, "acme", "amazon", account.account, "incremental")
    assert len(failures) == 2
    assert all("AWS KMS" in details["error"] for details in failures), failures
    assert cursor is not None
    documents = delivered_lines(tmp_path / "delivered")
    ids = [doc["ordervault"]["marketplace_order_id"] for doc in documents]
    assert sorted(set(ids)) == sorted(o.order_id for o in spapi.orders())
    tally.delivered = len(set(ids))
    tally.repeats = len(ids) - len(set(ids))
    tally.detail = (
        f"{stored_while_cut} stored before the cut stopped the pull: {stopped.error}; "
        f"{proxy.connections} KMS connections"
    )
    report = leak_scan.scan(runtime)
    assert report.clean, report.count_by("source")
