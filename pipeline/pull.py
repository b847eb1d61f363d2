"""Step 1 of the flow for one seller account: pages from a connector, stored, cursor saved.

Each page's orders are stored (in one transaction, idempotently), its broken payloads
quarantined sealed, and only then is the cursor saved: a pull killed mid-page resumes from the
last saved page, and the orders it stores again are no-ops. Forwarding is enqueued per page,
after the page's rows committed.

An order that sealing or storage refuses (a poison order, see `pipeline.order_failures`) is
quarantined like a broken payload, so it cannot hold the page, and the account, back; an
outage stops the pull before the cursor moves.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import redis

from connectors.amazon import AmazonAccountSettings, AmazonConnector
from connectors.ebay import (
    AccountNeedsAttention,
    CallBudget,
    EbayAccountSettings,
    EbayConnector,
)
from connectors.errors import ConnectorError
from connectors.order import Order
from connectors.quarantine import QuarantineItem, payload_bytes, safe_order_id
from connectors.ratelimit import BlockingLimiter, BucketStore, Limiter, RedisBuckets
from crypto import RecordRef, RootKeyError
from pipeline import metrics
from pipeline.clients import AmazonAccount, ClientConfig, EbayAccount
from pipeline.ingest import Ingestor, SealedPage
from pipeline.jobs.actors import Jobs
from pipeline.order_failures import failure_reason, is_order_failure
from pipeline.overlap import overlapped
from pipeline.runtime import Runtime
from storage import (
    SqlBuckets,
    SqlCallBudget,
    UpsertResult,
    audit,
    get_cursor,
    save_cursor,
    write_session,
)
from storage.quarantine import add_quarantined, find_quarantined

log = logging.getLogger(__name__)

Stream = Literal["incremental", "backfill"]
#: Cursor stream marking an account whose token the marketplace refused: pulls stop until the
#: configured token changes.
ATTENTION_STREAM = "attention"
QUARANTINE_MARKETPLACE = "quarantine"
QUARANTINE_SCHEMA_VERSION = 1


class _QuarantineItem(Protocol):
    """What both connectors' quarantine items offer (read-only)."""

    @property
    def marketplace_order_id(self) -> str | None: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def field(self) -> str: ...
    @property
    def reason(self) -> str: ...


class _Page(Protocol):
    """What both connectors' pages offer (read-only)."""

    @property
    def orders(self) -> tuple[Order, ...]: ...
    @property
    def quarantined(self) -> Sequence[_QuarantineItem]: ...
    @property
    def state(self) -> dict[str, Any]: ...
    @property
    def position_at(self) -> datetime | None: ...
    @property
    def done(self) -> bool: ...


@dataclass(frozen=True)
class _StoredPage:
    """What the writer thread hands back for one page."""

    page: _Page
    results: list[UpsertResult]
    poisoned: int  # orders refused by sealing or storage, now quarantine items
    quarantined: int  # all of the page's quarantine items, broken payloads included


@dataclass
class PullReport:
    pages: int = 0
    orders: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    messages: int = 0
    error: str | None = None
    # The latest page, for progress displays: its resume state, and its orders' purchase and
    # last-update times in the order the marketplace sent them.
    page_state: dict[str, Any] = field(default_factory=dict)
    page_purchased_at: tuple[datetime, ...] = ()
    page_updated_at: tuple[datetime, ...] = ()


@functools.lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    # One connection pool per process, not one per pull job.
    return redis.Redis.from_url(url)


def _fingerprint(secret: str) -> str:
    # Enough to notice that the operator replaced the token; says nothing about the token.
    return hashlib.sha256(b"ordervault-token\x00" + secret.encode()).hexdigest()[:16]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def quarantine_record_id(marketplace: str, account: str, received_at: datetime) -> str:
    """The record id a quarantined payload is sealed under, rebuilt from its row's columns."""
    return f"{marketplace}/{account}/{received_at.isoformat()}"


@dataclass
class Puller:
    runtime: Runtime
    jobs: Jobs
    limiter: Limiter
    budget: CallBudget
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def for_runtime(cls, runtime: Runtime, jobs: Jobs) -> Puller:
        # Every worker process draws from the same buckets, so together they stay within one
        # usage plan: in Redis when the broker is Redis, else in the data database. Usage plans
        # run on the wall clock whatever `--now` says: Amazon refills in real time.
        broker = runtime.config.settings.broker
        store: BucketStore
        if broker.url.startswith(("redis://", "rediss://")):
            store = RedisBuckets(_redis_client(broker.connect_url))
        else:
            store = SqlBuckets(runtime.sessions)
        limiter = BlockingLimiter(store, clock=_wall_clock, sleep=time.sleep)
        # eBay's daily allowance is counted in the database, so every worker spends one budget.
        return cls(runtime, jobs, limiter, SqlCallBudget(runtime.sessions))

    def pull(
        self,
        client: ClientConfig,
        account: AmazonAccount | EbayAccount,
        *,
        stream: Stream = "incremental",
        since: datetime | None = None,
        until: datetime | None = None,
        on_page: Callable[[PullReport], None] | None = None,
    ) -> PullReport:
        """Pull one account until its window is done; errors end the pull, never half a page."""
        marketplace = "amazon" if isinstance(account, AmazonAccount) else "ebay"
        report = PullReport()
        with self.runtime.sessions() as session:
            cursor = get_cursor(session, client.id, marketplace, account.account, stream)
        state = dict(cursor.state) if cursor is not None and cursor.state else None
        held = self._attention(client, account)
        if held is not None:
            report.error = held
            return report
        ingest = Ingestor(self.runtime)

        def seal(page: _Page) -> tuple[_Page, SealedPage | None]:
            return page, self._seal_page(ingest, client, page)

        def store(sealed: tuple[_Page, SealedPage | None]) -> _StoredPage:
            page, sealed_page = sealed
            return self._store_page(ingest, client, marketplace, account.account, page, sealed_page)

        try:
            # The next page is fetched and sealed while this one is written (one writer
            # thread, pages in order); the cursor moves here, page by page, after each write.
            pages = self._pages(client, account, stream, state, since, until)
            name = f"ordervault-pull-{client.id}"
            # closing: whatever stops the loop, the writer stops now, not when collected.
            with closing(overlapped(pages, seal, store, thread_name=name)) as stored_pages:
                for stored in stored_pages:
                    self._page_done(client, marketplace, account.account, stream, stored, report)
                    if on_page is not None:
                        on_page(report)
        except ConnectorError as exc:
            # The message names the account and the failure, never a payload value.
            report.error = str(exc)
            log.warning(
                "pull of %s/%s/%s stopped: %s", client.id, marketplace, account.account, exc
            )
            self._audit(client.id, "pull_failed", marketplace, account.account, {"error": str(exc)})
            if isinstance(exc, AccountNeedsAttention) and isinstance(account, EbayAccount):
                self._hold(client, account, str(exc))
        except RootKeyError as exc:
            # KMS out of reach (or refusing): nothing can be sealed, so nothing more is stored;
            # the cursor stays at the last whole page and the next pull resumes from there.
            report.error = f"root key unavailable, pull stopped: {exc}"
            log.warning(
                "pull of %s/%s/%s stopped: %s", client.id, marketplace, account.account, exc
            )
            self._audit(
                client.id, "pull_failed", marketplace, account.account, {"error": report.error}
            )
        return report

    # --- accounts that need an operator ------------------------------------------------------

    def _attention(self, client: ClientConfig, account: AmazonAccount | EbayAccount) -> str | None:
        """Why this account's pulls are held, or None. A new token in the config releases it."""
        if not isinstance(account, EbayAccount):
            return None
        with self.runtime.sessions() as session:
            mark = get_cursor(session, client.id, "ebay", account.account, ATTENTION_STREAM)
        if mark is None or mark.state.get("token") != _fingerprint(account.token.reveal()):
            return None
        return (
            f"held since {mark.state.get('since')}: {mark.state.get('reason')} "
            f"(put a new token in the client file for {account.account!r} to resume)"
        )

    def _hold(self, client: ClientConfig, account: EbayAccount, reason: str) -> None:
        now = self.runtime.clock()
        with write_session(self.runtime.sessions) as session:
            save_cursor(
                session,
                client.id,
                "ebay",
                account.account,
                ATTENTION_STREAM,
                position_at=None,
                state={
                    "reason": reason,
                    "since": now.isoformat(),
                    "token": _fingerprint(account.token.reveal()),
                },
                now=now,
            )

    def _pages(
        self,
        client: ClientConfig,
        account: AmazonAccount | EbayAccount,
        stream: Stream,
        state: dict[str, Any] | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Iterator[_Page]:
        if isinstance(account, AmazonAccount):
            amazon = AmazonConnector(
                amazon_settings(client, account),
                limiter=self.limiter,
                clock=self.runtime.clock,
                sleep=self.sleep,
            )
            with amazon:
                if stream == "backfill":
                    if since is None and state is None:
                        raise ConnectorError("a backfill needs --since", retryable=False)
                    yield from amazon.backfill(
                        created_after=since or self.runtime.clock(),
                        created_before=until,
                        state=state,
                    )
                else:
                    yield from amazon.pull(state, since=since or self._first_pull_start())
            return
        ebay = EbayConnector(
            ebay_settings(client, account),
            budget=self.budget,
            clock=self.runtime.clock,
            sleep=self.sleep,
        )
        with ebay:
            yield from ebay.pull(state, since=since or self._first_pull_start())

    def _first_pull_start(self) -> datetime:
        # A new account starts 30 days back: older orders are past Amazon's retention anyway.
        return self.runtime.clock() - timedelta(days=30)

    def _seal_page(self, ingest: Ingestor, client: ClientConfig, page: _Page) -> SealedPage | None:
        """The page's orders sealed, or None if one of them is refused (stored one by one)."""
        try:
            return ingest.seal_page(client, page.orders)
        except Exception as exc:
            if not is_order_failure(exc):
                raise
            # The type only: the message of a value error may quote the value.
            log.warning(
                "a page of %s failed to seal as a whole (%s); storing its %d order(s) one by one",
                client.id,
                type(exc).__name__,
                len(page.orders),
            )
            return None

    def _store_page(
        self,
        ingest: Ingestor,
        client: ClientConfig,
        marketplace: str,
        account: str,
        page: _Page,
        sealed: SealedPage | None,
    ) -> _StoredPage:
        """Store a page's orders and quarantine what it refused (the writer thread's part)."""
        results, poisoned = self._store_orders(ingest, client, page.orders, sealed)
        quarantined = [*page.quarantined, *poisoned]
        for item in quarantined:
            self._quarantine(client, marketplace, account, item)
        return _StoredPage(page, results, len(poisoned), len(quarantined))

    def _page_done(
        self,
        client: ClientConfig,
        marketplace: str,
        account: str,
        stream: Stream,
        stored: _StoredPage,
        report: PullReport,
    ) -> None:
        """A page is stored: count it, move the cursor past it, enqueue its forwarding."""
        page = stored.page
        delivery_ids: list[int] = []
        for result in stored.results:
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
            metrics.record_order_stored(client.id, result.outcome)
            delivery_ids += result.delivery_ids
        if stored.quarantined:
            metrics.record_order_stored(client.id, "quarantined", stored.quarantined)
        now = self.runtime.clock()
        with write_session(self.runtime.sessions) as session:
            save_cursor(
                session,
                client.id,
                marketplace,
                account,
                stream,
                position_at=page.position_at,
                state=page.state,
                now=now,
            )
        report.pages += 1
        report.orders += len(page.orders) - stored.poisoned
        report.quarantined += stored.quarantined
        report.messages += self.jobs.enqueue_deliveries(delivery_ids)
        report.page_state = page.state
        report.page_purchased_at = tuple(o.purchased_at for o in page.orders)
        report.page_updated_at = tuple(o.updated_at for o in page.orders)

    def _store_orders(
        self,
        ingest: Ingestor,
        client: ClientConfig,
        orders: Sequence[Order],
        sealed: SealedPage | None,
    ) -> tuple[list[UpsertResult], list[QuarantineItem]]:
        """Store a page's orders: (results of those stored, quarantine items of those refused).

        The page goes in one transaction. Should sealing or that transaction fail for one
        order's data, each order is stored on its own, and those that fail again become
        quarantine items; any other failure (an outage) is raised and nothing of the page's
        transaction is kept. Orders stored on their own before an outage stay stored: their
        outbox rows are committed, and the sweep sends what their lost messages would have.
        """
        if sealed is not None:
            try:
                return ingest.write_page(client, sealed), []
            except Exception as exc:
                if not is_order_failure(exc):
                    raise
                # The type only: the message of a value error may quote the value.
                log.warning(
                    "a page of %s failed to store as a whole (%s); "
                    "storing its %d order(s) one by one",
                    client.id,
                    type(exc).__name__,
                    len(orders),
                )
        results: list[UpsertResult] = []
        poisoned: list[QuarantineItem] = []
        for order in orders:
            try:
                results += ingest.store_many(client, [order])
            except Exception as exc:
                if not is_order_failure(exc):
                    raise
                poisoned.append(_poisoned(order, exc))
                log.warning(
                    "order %s of %s/%s/%s not stored (%s): quarantined",
                    safe_order_id(order.marketplace_order_id) or "(odd id)",
                    client.id,
                    order.marketplace.value,
                    order.account,
                    type(exc).__name__,
                )
        return results, poisoned

    def _quarantine(
        self, client: ClientConfig, marketplace: str, account: str, item: _QuarantineItem
    ) -> None:
        now = self.runtime.clock()
        # The payload holds PII we could not classify: it lives no longer than an order's would.
        day = (now + timedelta(days=client.retention.days_after_delivery)).date()
        record = RecordRef(
            client.id,
            QUARANTINE_MARKETPLACE,
            quarantine_record_id(marketplace, account, now),
            QUARANTINE_SCHEMA_VERSION,
        )
        # The cursor's overlap (and a retried page) brings the same broken payload back:
        # it is kept once, found again by a keyed digest of its bytes.
        digest = self.runtime.vault.content_digest(
            client.id, f"quarantine\0{marketplace}\0{account}\0".encode() + item.payload
        )
        with self.runtime.sessions() as session:
            if find_quarantined(session, client_id=client.id, payload_digest=digest):
                return
        sealed = self.runtime.vault.seal(record, item.payload, day)
        with write_session(self.runtime.sessions) as session:
            entry_id = add_quarantined(
                session,
                payload_digest=digest,
                client_id=client.id,
                marketplace=marketplace,
                account=account,
                marketplace_order_id=item.marketplace_order_id,
                reason=item.reason,
                field=item.field,
                sealed_payload=sealed.ciphertext,
                wrapped_data_key=sealed.wrapped_key,
                bucket_day=sealed.bucket_day,
                now=now,
            )
            audit.append(
                session,
                actor="pipeline",
                action="quarantine",
                client_id=client.id,
                subject={
                    "quarantine_id": entry_id,
                    "marketplace_order_id": item.marketplace_order_id,
                },
                details={"marketplace": marketplace, "account": account, "field": item.field},
                now=now,
            )

    def _audit(
        self, client_id: str, action: str, marketplace: str, account: str, details: dict[str, Any]
    ) -> None:
        with write_session(self.runtime.sessions) as session:
            audit.append(
                session,
                actor="pipeline",
                action=action,
                client_id=client_id,
                subject={"marketplace": marketplace, "account": account},
                details=details,
                now=self.runtime.clock(),
            )


def _poisoned(order: Order, exc: Exception) -> QuarantineItem:
    """The quarantine item for an order storage refused: the canonical order, to be sealed."""
    field_name, reason = failure_reason(exc)
    return QuarantineItem(
        marketplace_order_id=safe_order_id(order.marketplace_order_id),
        # The marketplace's own payload is gone by now; the canonical order holds what it said.
        payload=payload_bytes(order.model_dump(mode="json")),
        field=field_name,
        reason=reason,
    )


def amazon_settings(client: ClientConfig, account: AmazonAccount) -> AmazonAccountSettings:
    return AmazonAccountSettings(
        client_id=client.id,
        account=account.account,
        region=account.region,
        marketplace_ids=tuple(account.marketplace_ids),
        orders_api=account.orders_api,
        refresh_token=account.refresh_token.reveal(),
        lwa_client_id=account.lwa_client_id.reveal(),
        lwa_client_secret=account.lwa_client_secret.reveal(),
        endpoint=account.endpoint,
        lwa_endpoint=account.lwa_endpoint,
    )


def ebay_settings(client: ClientConfig, account: EbayAccount) -> EbayAccountSettings:
    return EbayAccountSettings(
        client_id=client.id,
        account=account.account,
        site_id=account.site_id,
        token=account.token.reveal(),
        app_id=account.app_id.reveal(),
        dev_id=account.dev_id.reveal(),
        cert_id=account.cert_id.reveal(),
        endpoint=account.endpoint,
        daily_call_budget=account.daily_call_budget,
    )
