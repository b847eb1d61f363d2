"""The store path a pull uses, fed with pages a test builds, on a SQLite deployment.

`open_deployment(folder)` writes acme's settings and client file, a local root key and two
migrated SQLite databases (data and key store), and opens a `Runtime` on them once; a test
calls `deployment.reset()` at the start of each hypothesis example, which empties the data
database and rewrites its files (VACUUM, WAL checkpoint), so that what an example leaves on
disk is its own. Engines live as long as the deployment: SQLAlchemy's statement cache then
makes an example cost tens of milliseconds, not the hundreds a fresh deployment would.

`PagePuller` is the real `pipeline.pull.Puller`, with one seam: the pages come from the test
instead of a marketplace connector. Everything after that is the product's code: the pull loop
and its error handling, `Ingestor` (minimise, seal, upsert, blind index, outbox), sealed
quarantine with its audit event, the cursor, the enqueueing of deliveries.

`check_stored_or_quarantined` is the property both marketplaces' fuzz tests assert.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import storage
from connectors.classify import drop_pii
from connectors.ebay import InMemoryCallBudget
from connectors.order import Order
from connectors.page import Page
from connectors.quarantine import QuarantineItem
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from crypto import RecordRef, init_local_root_key
from pipeline.access import PiiUnavailableError, Purpose, open_order
from pipeline.clients import AmazonAccount, ClientConfig, EbayAccount
from pipeline.config import load_config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import (
    QUARANTINE_MARKETPLACE,
    QUARANTINE_SCHEMA_VERSION,
    Puller,
    PullReport,
    quarantine_record_id,
)
from pipeline.runtime import Runtime
from storage.models import DataBase, QuarantineEntry
from storage.models import Order as OrderRow
from tests.configs import ACME, ENVIRON, SETTINGS, write_config
from tests.reliability.schema_strategies import CANARY

#: The pull runs at this instant; generated orders fall between 2024 and 2027, so some of
#: them expired before they arrived (stored without PII) and most did not.
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# acme delivers into a folder: enqueued deliveries could never reach the network.
CLIENT = ACME.replace(
    'type = "webhook"\nurl = "https://erp.acme.example/orders"\nsecret = "env:ACME_WEBHOOK_SECRET"',
    'type = "directory"\npath = "outbox"',
)
# A quarantine field is a path of names and indexes, or "*" where a name was not one.
_FIELD = re.compile(r"^[A-Za-z_*][A-Za-z0-9_*]*(?:(?:\.|/)[A-Za-z_*][A-Za-z0-9_*]*|\[\d+\])*$")


def _no_network(_: float) -> None:
    raise AssertionError("the store path must not wait for anything")


class PagePuller(Puller):
    """The product's puller; its pages come from `feed` instead of a marketplace."""

    feed: Sequence[Page] = ()

    def _pages(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
        yield from self.feed


@dataclass
class Deployment:
    root: Path
    runtime: Runtime
    jobs: Jobs
    client: ClientConfig

    def pull(self, account: AmazonAccount | EbayAccount, pages: Sequence[Page]) -> PullReport:
        limiter = BlockingLimiter(MemoryBuckets(), clock=self.runtime.clock, sleep=_no_network)
        puller = PagePuller(self.runtime, self.jobs, limiter, InMemoryCallBudget(), _no_network)
        puller.feed = pages
        return puller.pull(self.client, account)

    def reset(self) -> None:
        """Empty the data database and leave none of its old pages in its files."""
        engine = self.runtime.data_engine
        with engine.begin() as connection:
            for table in reversed(DataBase.metadata.sorted_tables):
                connection.execute(table.delete())
        with engine.connect() as connection:
            connection.connection.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
        assert storage.checkpoint_wal(engine)

    def database_bytes(self) -> bytes:
        """Every file SQLite wrote for both databases (-wal and -shm included), as on disk."""
        return b"".join(path.read_bytes() for path in sorted((self.root / "var").glob("*.db*")))


@contextmanager
def open_deployment(folder: Path) -> Iterator[Deployment]:
    write_config(folder, {"acme": CLIENT}, settings=SETTINGS)
    config = load_config(folder / "ordervault.toml", environ=ENVIRON)
    init_local_root_key(config.settings.kms.key_file)
    storage.upgrade(config.settings.database.url, keystore=False)
    storage.upgrade(config.settings.keystore.url, keystore=True)
    runtime = Runtime.open(config, clock=lambda: NOW)
    jobs = Jobs(make_broker("inline"), runtime)
    try:
        yield Deployment(folder, runtime, jobs, config.client("acme"))
    finally:
        jobs.close()
        runtime.close()


def check_stored_or_quarantined(
    deployment: Deployment,
    account: AmazonAccount | EbayAccount,
    page: Page,
    *,
    marketplace: str,
    payloads: int,
) -> PullReport:
    """Pull `page` (built by the real mapping from `payloads` payloads) and check the outcome.

    Every payload is either an order, stored and opening back to the same PII through the
    audited path (or stored without PII when it had expired on arrival), or a quarantine row
    naming a field, whose sealed payload opens back to what the marketplace sent. Nothing
    escapes the pull, and no canary is in a reason, a field or the database files in clear.
    """
    assert len(page.orders) + len(page.quarantined) == payloads
    report = deployment.pull(account, [page])
    assert report.error is None, report.error
    assert (report.pages, report.quarantined) == (1, len(page.quarantined))
    runtime = deployment.runtime
    with runtime.sessions() as session:
        rows = {
            row.marketplace_order_id: row
            for row in session.scalars(
                sa.select(OrderRow).where(OrderRow.marketplace == marketplace)
            )
        }
        entries = list(session.scalars(sa.select(QuarantineEntry).order_by(QuarantineEntry.id)))
    # The last version of an order id in the page is the one stored.
    expected = {o.marketplace_order_id: o for o in page.orders}
    assert set(rows) == set(expected)
    for order_id, order in expected.items():
        _check_order(deployment, rows[order_id], order)
    assert len(entries) == len(page.quarantined)
    for entry, item in zip(entries, page.quarantined, strict=True):
        _check_quarantined(deployment, entry, item, marketplace=marketplace, account=account)
    files = deployment.database_bytes()
    assert CANARY.encode() not in files, "a canary reached a database file in clear"
    return report


def _check_order(deployment: Deployment, row: OrderRow, order: Order) -> None:
    minimised = drop_pii(order, frozenset(deployment.client.pii.drop))
    if row.expires_on is not None and row.expires_on <= NOW.date():
        # Its retention ended before it arrived: only the clear part is kept.
        assert row.pii_ciphertext is None
        assert row.shredded_at is not None
        try:
            open_order(deployment.runtime, row.id, purpose=Purpose.SUPPORT, actor="fuzz")
        except PiiUnavailableError:
            return
        raise AssertionError("an order that expired on arrival opened")
    assert row.pii_ciphertext is not None
    opened = open_order(deployment.runtime, row.id, purpose=Purpose.SUPPORT, actor="fuzz")
    assert opened == minimised


def _check_quarantined(
    deployment: Deployment,
    entry: QuarantineEntry,
    item: QuarantineItem,
    *,
    marketplace: str,
    account: AmazonAccount | EbayAccount,
) -> None:
    assert (entry.field, entry.reason) == (item.field, item.reason)
    assert _FIELD.match(entry.field or ""), entry.field
    assert entry.reason.strip(), "a quarantine reason says nothing"
    assert CANARY not in entry.field + entry.reason
    ref = RecordRef(
        deployment.client.id,
        QUARANTINE_MARKETPLACE,
        quarantine_record_id(marketplace, account.account, storage.ensure_utc(entry.received_at)),
        QUARANTINE_SCHEMA_VERSION,
    )
    opened = deployment.runtime.vault.open(ref, entry.sealed_payload, entry.wrapped_data_key)
    assert opened == item.payload
    assert entry.bucket_day > NOW.date()
