"""Normalised order -> minimised, sealed, stored with its blind index and outbox rows.

Steps 2-4 of DESIGN.md's flow. An unchanged order costs one keyed digest and its share of one
indexed read: nothing is sealed or written. A page of orders is stored in one transaction. The
caller enqueues forwarding after this returns (after commit).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from connectors.classify import canonical_json, drop_pii, split
from connectors.order import PII_SCHEMA_VERSION, Order
from crypto import InvalidValueError, PiiVault, RecordRef
from pipeline.clients import ClientConfig
from pipeline.expiry import expiry_days
from pipeline.overlap import overlapped
from pipeline.runtime import Runtime
from storage import (
    OrderRecord,
    OrderState,
    UpsertResult,
    is_sqlite,
    mark_shredded,
    order_states,
    upsert_orders,
    write_session,
)


def record_ref(order: Order) -> RecordRef:
    return RecordRef(
        order.client_id, order.marketplace.value, order.marketplace_order_id, PII_SCHEMA_VERSION
    )


def blind_index_entries(vault: PiiVault, order: Order) -> tuple[tuple[str, str], ...]:
    """(kind, digest) for each identifier a data-subject request may name, without repeats.

    The vault normalises each kind (emails lower-cased, phones to digits); a value that does
    not normalise (a "phone" with no digits) is simply not indexed.
    """
    buyer, address = order.buyer, order.shipping_address
    values: list[tuple[str, str | None]] = []
    if buyer is not None:
        values = [
            ("email", buyer.email),
            ("buyer_id", buyer.marketplace_buyer_id),
            ("username", buyer.username),
            ("eias_token", buyer.eias_token),
            ("phone", buyer.phone),
        ]
    if address is not None:
        values.append(("phone", address.phone))
    client_id = order.client_id
    entries: list[tuple[str, str]] = []
    for kind, value in values:
        if value:
            try:
                entries.append((kind, vault.blind_index(client_id, kind, value)))
            except InvalidValueError:
                continue
    # dict.fromkeys: the first of equal entries, in order (two phones may normalise alike).
    return tuple(dict.fromkeys(entries))


class _Prepared(NamedTuple):  # a frozen dataclass costs three times as much to build
    order: Order
    key: tuple[str, str]  # (marketplace, marketplace_order_id)
    clear: dict[str, Any]
    clear_json: str
    pii_bytes: bytes
    digest: str


# Positions (in the page) of the orders to write -> the moment they are stored, and each one's
# sealed row with whether its retention has already ended.
_SealAt = Callable[[list[int]], tuple[datetime, list[tuple[OrderRecord, bool]]]]


@dataclass(frozen=True)
class SealedPage:
    """A page of one client's orders, minimised and sealed, ready for `Ingestor.write_page`."""

    client_id: str
    items: list[_Prepared]
    records: list[tuple[OrderRecord, bool]]  # aligned with `items`
    sealed_at: datetime


@dataclass(frozen=True)
class Ingestor:
    runtime: Runtime

    def store(self, client: ClientConfig, order: Order) -> UpsertResult:
        """Store one order for `client`; idempotent on its marketplace identity."""
        return self.store_many(client, [order])[0]

    def store_many(self, client: ClientConfig, orders: Sequence[Order]) -> list[UpsertResult]:
        """Store a page of orders for `client` in one transaction; results in `orders`' order.

        Idempotent like `store`: an unchanged order is neither sealed nor written. One read
        finds the unchanged ones, one write transaction stores the rest with their outbox
        rows, so a page costs a few round trips rather than several per order.
        """
        prepared = self._prepare_all(client, orders)

        def seal_changed(
            positions: list[int],
        ) -> tuple[datetime, list[tuple[OrderRecord, bool]]]:
            now = self.runtime.clock()
            items = [prepared[p] for p in positions]
            return now, self._records(self.runtime.vault, client, items, now)

        return self._write(client, prepared, seal_changed)

    def store_pages(
        self, client: ClientConfig, pages: Iterable[Sequence[Order]]
    ) -> Generator[list[UpsertResult], None, None]:
        """`store_many` for each page in turn, sealing the next page while one is written.

        Each page is still one transaction, written in order; see `pipeline.overlap` for what
        happens when a page fails. The price: every order of a page is sealed before the read
        that finds the unchanged ones, so an unchanged order costs a seal and its blind index
        (tens of microseconds) where `store_many` spends none.
        """
        return overlapped(
            pages,
            lambda orders: self.seal_page(client, orders),
            lambda page: self.write_page(client, page),
            thread_name=f"ordervault-ingest-{client.id}",
        )

    def seal_page(self, client: ClientConfig, orders: Sequence[Order]) -> SealedPage:
        """A page minimised and sealed, every order of it, without touching the data database."""
        prepared = self._prepare_all(client, orders)
        now = self.runtime.clock()
        records = self._records(self.runtime.vault, client, prepared, now)
        return SealedPage(client.id, prepared, records, now)

    def write_page(self, client: ClientConfig, page: SealedPage) -> list[UpsertResult]:
        """Store a sealed page as `store_many` would store its orders."""
        if page.client_id != client.id:
            raise ValueError("page belongs to another client")

        def sealed(positions: list[int]) -> tuple[datetime, list[tuple[OrderRecord, bool]]]:
            return page.sealed_at, [page.records[p] for p in positions]

        return self._write(client, page.items, sealed)

    def _prepare_all(self, client: ClientConfig, orders: Sequence[Order]) -> list[_Prepared]:
        if any(order.client_id != client.id for order in orders):
            raise ValueError("order belongs to another client")
        vault, drop = self.runtime.vault, frozenset(client.pii.drop)
        return [self._prepare(vault, client.id, drop, order) for order in orders]

    def _write(
        self,
        client: ClientConfig,
        prepared: list[_Prepared],
        seal: _SealAt,
    ) -> list[UpsertResult]:
        keys = [item.key for item in prepared]
        if is_sqlite(self.runtime.data_engine):
            # One writer at a time: read without the write lock, so that a page with nothing
            # new neither waits for it nor holds it.
            with self.runtime.sessions() as session:
                states = order_states(session, client.id, keys)
            return self._store(
                client, prepared, states, lambda: write_session(self.runtime.sessions), seal
            )
        # PostgreSQL: the read and the write share a transaction (reading locks nothing), a
        # connection check-out and two round trips fewer per page.
        with write_session(self.runtime.sessions) as session:
            states = order_states(session, client.id, keys)
            return self._store(client, prepared, states, lambda: nullcontext(session), seal)

    def _store(
        self,
        client: ClientConfig,
        prepared: list[_Prepared],
        states: dict[tuple[str, str], OrderState],
        write: Callable[[], AbstractContextManager[Session]],
        seal: _SealAt,
    ) -> list[UpsertResult]:
        results: list[UpsertResult | None] = [None] * len(prepared)
        changed: list[int] = []
        for position, item in enumerate(prepared):
            state = states.get(item.key)
            if state is not None and state.content_digest == item.digest:
                results[position] = UpsertResult(state.order_id, state.version, "unchanged", ())
            else:
                changed.append(position)
        if changed:
            now, records = seal(changed)
            destinations = [d.name for d in client.destinations]
            with write() as session:
                stored = upsert_orders(
                    session,
                    [(record, [] if expired else destinations) for record, expired in records],
                    now,
                    states=states,
                )
                for position, (_, expired), result in zip(changed, records, stored, strict=True):
                    if expired:
                        mark_shredded(
                            session, result.order_id, reason="expired_on_arrival", now=now
                        )
                    results[position] = result
        return [result for result in results if result is not None]

    @staticmethod
    def _prepare(vault: PiiVault, client_id: str, drop: frozenset[str], order: Order) -> _Prepared:
        order = drop_pii(order, drop)
        clear, pii = split(order)
        clear_bytes = canonical_json(clear)
        pii_bytes = canonical_json(pii)
        # Keyed, so the digest of a low-entropy order cannot be brute-forced back to its PII.
        digest = vault.content_digest(client_id, clear_bytes + b"\x00" + pii_bytes)
        key = (order.marketplace.value, order.marketplace_order_id)
        # The same canonical text becomes the clear column: serialised once, not twice.
        return _Prepared(order, key, clear, clear_bytes.decode(), pii_bytes, digest)

    @staticmethod
    def _records(
        vault: PiiVault, client: ClientConfig, items: list[_Prepared], now: datetime
    ) -> list[tuple[OrderRecord, bool]]:
        """Each item's row to store, sealed; and whether its retention has already ended."""
        days = expiry_days(
            [item.order for item in items],
            retention_days=client.retention.days_after_delivery,
            max_undelivered_days=client.retention.max_undelivered_days,
            now=now,
        )
        today = now.date()
        records: list[tuple[OrderRecord, bool]] = []
        for item, day in zip(items, days, strict=True):
            order = item.order
            marketplace, marketplace_order_id = item.key
            # An order whose retention already ended (an old backfill) keeps only its clear
            # part: its PII is never sealed, stored or forwarded, and the row says why it
            # holds none.
            expired = day <= today
            sealed = None if expired else vault.seal(record_ref(order), item.pii_bytes, day)
            record = OrderRecord(
                client_id=client.id,
                marketplace=marketplace,
                account=order.account,
                marketplace_order_id=marketplace_order_id,
                content_digest=item.digest,
                status=order.status.value,
                purchased_at=order.purchased_at,
                clear=item.clear,
                schema_version=PII_SCHEMA_VERSION,
                pii_ciphertext=sealed.ciphertext if sealed else None,
                wrapped_data_key=sealed.wrapped_key if sealed else None,
                bucket_day=sealed.bucket_day if sealed else None,
                expires_on=day,
                marketplace_updated_at=order.updated_at,
                shipped_at=order.shipped_at,
                delivered_at=order.delivered_at,
                cancelled_at=order.cancelled_at,
                latest_delivery_by=order.latest_delivery_by,
                delivery_source=order.delivery_source,
                blind_index=() if expired else blind_index_entries(vault, order),
                clear_json=item.clear_json,
            )
            records.append((record, expired))
        return records
