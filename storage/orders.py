"""Orders: idempotent upsert with versioning and outbox rows, and the helpers around shredding.

The caller seals the PII and computes `content_digest` (a keyed hash); storage only compares
digests. One `upsert_order` call is one step of the caller's transaction: the order row, its
blind-index rows and one outbox row per destination commit together or not at all.
`upsert_orders` does the same for a page of orders with a handful of multi-row statements: the
path a pull and a backfill take, where round trips, not SQL, are what costs.

Concurrent upserts of the same order are safe. On PostgreSQL the first version is created with
INSERT ... ON CONFLICT DO NOTHING and later versions under a row lock, so the loser of a race
waits, re-reads and compares again. On SQLite writers are serialised by the database lock,
which the transaction must take up front: call it inside `storage.db.write_session`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.bulk import JsonText, insert_columns
from storage.db import is_sqlite, require_write_lock
from storage.errors import OrderShreddedError
from storage.models import BlindIndexEntry, Delivery, Order
from storage.outbox import delivery_idempotency_key
from storage.sqltypes import ensure_utc
from storage.statements import rowcount

# Core tables for the multi-row INSERTs: the ORM's unit of work costs more than the SQL here.
_ORDERS = cast(sa.Table, Order.__table__)
_DELIVERIES = cast(sa.Table, Delivery.__table__)
_BLIND_INDEX = cast(sa.Table, BlindIndexEntry.__table__)

UpsertOutcome = Literal["created", "updated", "unchanged"]

# Bound parameters per statement stay well below SQLite's 32,766 and PostgreSQL's 65,535.
_STATE_CHUNK_KEYS = 500

# Outbox rows not yet on their way are replaced by the new version's rows; rows being sent
# right now finish (the destination deduplicates on the idempotency key).
_SUPERSEDABLE = ("pending", "failed")


@dataclass(frozen=True, slots=True)  # slots: a page builds a hundred of these
class OrderRecord:
    """Everything the caller supplies for one version of an order."""

    client_id: str
    marketplace: str
    account: str
    marketplace_order_id: str
    content_digest: str
    status: str
    purchased_at: datetime
    clear: Mapping[str, Any]
    schema_version: int
    pii_ciphertext: bytes | None = None
    wrapped_data_key: bytes | None = None
    bucket_day: date | None = None
    expires_on: date | None = None
    marketplace_updated_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    latest_delivery_by: datetime | None = None
    delivery_source: str | None = None
    blind_index: Sequence[tuple[str, str]] = ()
    # `clear` as JSON text, when the caller has serialised it anyway (for its content digest):
    # a new order's row is written with it instead of serialising `clear` a second time.
    clear_json: str | None = None

    def __post_init__(self) -> None:
        # Counted, not any() over generators: a page builds a hundred of these.
        missing = (
            (self.pii_ciphertext is None)
            + (self.wrapped_data_key is None)
            + (self.bucket_day is None)
        )
        if 0 < missing < 3:
            # Ciphertext without its wrapped key (or the bucket that wraps it) is unreadable,
            # and a key without ciphertext is pointless: all three or none.
            raise ValueError("pii_ciphertext, wrapped_data_key and bucket_day go together")


class OrderState(NamedTuple):
    order_id: int
    version: int
    content_digest: str


@dataclass(frozen=True)
class UpsertResult:
    order_id: int
    version: int
    outcome: UpsertOutcome
    delivery_ids: tuple[int, ...]


def _key(client_id: str, marketplace: str, marketplace_order_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        Order.client_id == client_id,
        Order.marketplace == marketplace,
        Order.marketplace_order_id == marketplace_order_id,
    )


def order_state(
    session: Session, client_id: str, marketplace: str, marketplace_order_id: str
) -> OrderState | None:
    """Id, version and digest of a stored order, so an unchanged one need not be sealed again."""
    row = session.execute(
        sa.select(Order.id, Order.version, Order.content_digest).where(
            _key(client_id, marketplace, marketplace_order_id)
        )
    ).one_or_none()
    return None if row is None else OrderState(row.id, row.version, row.content_digest)


def order_states(
    session: Session, client_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], OrderState]:
    """`order_state` for many (marketplace, marketplace_order_id) keys of one client at once."""
    by_marketplace: dict[str, list[str]] = {}
    for marketplace, marketplace_order_id in dict.fromkeys(keys):
        by_marketplace.setdefault(marketplace, []).append(marketplace_order_id)
    states: dict[tuple[str, str], OrderState] = {}
    read = _read_states if is_sqlite(session) else _read_states_postgresql
    for marketplace, order_ids in by_marketplace.items():
        for start in range(0, len(order_ids), _STATE_CHUNK_KEYS):
            chunk = order_ids[start : start + _STATE_CHUNK_KEYS]
            for order_id, id_, version, digest in read(session, client_id, marketplace, chunk):
                states[(marketplace, order_id)] = OrderState(id_, version, digest)
    return states


def _read_states(
    session: Session, client_id: str, marketplace: str, order_ids: list[str]
) -> Iterable[tuple[str, int, int, str]]:
    # Equality on the index's leading columns and IN on the last: a plain index lookup per key,
    # where a row-value IN over two columns may be planned as a scan.
    return cast(
        Iterable[tuple[str, int, int, str]],
        session.execute(
            sa.select(
                Order.marketplace_order_id, Order.id, Order.version, Order.content_digest
            ).where(
                Order.client_id == client_id,
                Order.marketplace == marketplace,
                Order.marketplace_order_id.in_(order_ids),
            )
        ),
    )


# The same lookup with the keys as one array parameter, sent in binary: the text is constant,
# so nothing is rendered per call (an expanding IN renders one placeholder per key). One unique-
# index lookup per key, spelled as a LATERAL subquery that LIMIT keeps the planner from
# flattening: `marketplace_order_id = ANY(...)` was planned, on a table not yet analysed (a new
# deployment, a bulk backfill before autovacuum gets to it), as a scan of all the client's
# orders filtered by the array, which grows with the table (18 ms per 100 keys at 6,000 rows,
# against 0.5 ms), and psycopg's prepared statement keeps such a plan.
_STATES_POSTGRESQL = (
    "SELECT o.marketplace_order_id, o.id, o.version, o.content_digest"
    " FROM unnest(CAST(%(order_ids)b AS VARCHAR[])) AS k(marketplace_order_id)"
    " CROSS JOIN LATERAL (SELECT marketplace_order_id, id, version, content_digest FROM orders"
    " WHERE client_id = %(client_id)s AND marketplace = %(marketplace)s"
    " AND marketplace_order_id = k.marketplace_order_id LIMIT 1) AS o"
)


def _read_states_postgresql(
    session: Session, client_id: str, marketplace: str, order_ids: list[str]
) -> Iterable[tuple[str, int, int, str]]:
    params = {"client_id": client_id, "marketplace": marketplace, "order_ids": order_ids}
    cursor = session.connection().exec_driver_sql(_STATES_POSTGRESQL, params)
    return cast(Iterable[tuple[str, int, int, str]], cursor.fetchall())


def upsert_order(
    session: Session, record: OrderRecord, destinations: Sequence[str], now: datetime
) -> UpsertResult:
    """Store a version of an order, if it changed, with one outbox row per destination.

    Same digest as stored: nothing is written. Raises `OrderShreddedError` for a changed
    payload of an order that was already shredded (its PII must not come back).
    """
    now = ensure_utc(now)
    require_write_lock(session, "upsert_order")
    key = _key(record.client_id, record.marketplace, record.marketplace_order_id)
    state = order_state(session, record.client_id, record.marketplace, record.marketplace_order_id)
    if state is not None and state.content_digest == record.content_digest:
        return UpsertResult(state.order_id, state.version, "unchanged", ())
    if state is None:
        inserted = _insert_first_versions(session, [record], now).get(_order_key(record))
        if inserted is not None:
            (delivery_ids,) = _write_version_rows(
                session, [(inserted, 1, record, destinations)], now
            )
            return UpsertResult(inserted, 1, "created", delivery_ids)
        # A concurrent transaction created it first and has committed: continue as an update.

    # Re-read under the row lock: a concurrent writer may have stored a newer version since.
    current = session.execute(
        sa.select(Order.id, Order.version, Order.content_digest, Order.shredded_at)
        .where(key)
        .with_for_update()
    ).one()
    if current.content_digest == record.content_digest:
        return UpsertResult(current.id, current.version, "unchanged", ())
    if current.shredded_at is not None:
        raise OrderShreddedError(current.id)
    version = current.version + 1
    session.execute(
        sa.update(Order)
        .where(Order.id == current.id)
        .values(version=version, account=record.account, last_stored_at=now, **_payload(record))
    )
    session.execute(
        sa.update(Delivery)
        .where(Delivery.order_id == current.id, Delivery.status.in_(_SUPERSEDABLE))
        .values(status="superseded", lease_until=None, leased_by=None)
    )
    session.execute(sa.delete(BlindIndexEntry).where(BlindIndexEntry.order_id == current.id))
    (delivery_ids,) = _write_version_rows(
        session, [(current.id, version, record, destinations)], now
    )
    return UpsertResult(current.id, version, "updated", delivery_ids)


def upsert_orders(
    session: Session,
    items: Sequence[tuple[OrderRecord, Sequence[str]]],
    now: datetime,
    *,
    states: Mapping[tuple[str, str], OrderState] | None = None,
) -> list[UpsertResult]:
    """`upsert_order` for many orders (each with its destinations), in the caller's transaction.

    Results come in the order of `items`. New orders, the common case of a pull, are written
    with one multi-row INSERT per table; orders that changed, that appear twice in `items`, or
    that a concurrent transaction created first take `upsert_order`'s path one by one. A
    changed payload of a shredded order is not stored: its result is "unchanged" (the PII
    must not come back), where `upsert_order` raises `OrderShreddedError`.

    `states`: what `order_states` returned for these items (all of one client), if the caller
    has just read it, so the page is not read twice. It may be stale: an order created since
    loses the INSERT's conflict and one that changed since is re-read under its row lock,
    exactly as when the states are read here.
    """
    now = ensure_utc(now)
    require_write_lock(session, "upsert_orders")
    results: list[UpsertResult | None] = [None] * len(items)
    by_client: dict[str, list[int]] = {}
    for position, (record, _) in enumerate(items):
        by_client.setdefault(record.client_id, []).append(position)
    if states is not None and len(by_client) > 1:
        raise ValueError("states are per client; these items belong to several clients")
    for client_id, positions in by_client.items():
        known = states
        if known is None:
            known = order_states(session, client_id, (_order_key(items[p][0]) for p in positions))
        fresh: dict[int, tuple[str, str]] = {}  # position -> key
        one_by_one: list[int] = []
        seen: set[tuple[str, str]] = set()
        for position in positions:
            record = items[position][0]
            key = _order_key(record)
            state = known.get(key)
            if key in seen or (state is not None and state.content_digest != record.content_digest):
                one_by_one.append(position)
            elif state is None:
                fresh[position] = key
            else:
                results[position] = UpsertResult(state.order_id, state.version, "unchanged", ())
            seen.add(key)
        # Sorted by key, so two transactions inserting overlapping pages take the unique
        # index's locks in the same order and cannot deadlock each other.
        by_key = sorted(fresh, key=fresh.__getitem__)
        inserted = _insert_first_versions(session, [items[p][0] for p in by_key], now)
        created = [(p, inserted[fresh[p]]) for p in by_key if fresh[p] in inserted]
        # Lost a race with a concurrent transaction: continue as an update, like upsert_order.
        one_by_one += [p for p in by_key if fresh[p] not in inserted]
        delivery_ids = _write_version_rows(
            session, [(order_id, 1, items[p][0], items[p][1]) for p, order_id in created], now
        )
        for (position, order_id), ids in zip(created, delivery_ids, strict=True):
            results[position] = UpsertResult(order_id, 1, "created", ids)
        for position in sorted(one_by_one):
            record, destinations = items[position]
            try:
                results[position] = upsert_order(session, record, destinations, now)
            except OrderShreddedError as exc:
                version = session.scalar(sa.select(Order.version).where(Order.id == exc.order_id))
                results[position] = UpsertResult(exc.order_id, version or 0, "unchanged", ())
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _order_key(record: OrderRecord) -> tuple[str, str]:
    return (record.marketplace, record.marketplace_order_id)


# The columns a version of an order sets from its record (each named as the record's field),
# besides `clear`; and with the order's identity, those a new order's row takes.
_PAYLOAD_COLUMNS = (
    "content_digest",
    "status",
    "purchased_at",
    "marketplace_updated_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "latest_delivery_by",
    "delivery_source",
    "pii_ciphertext",
    "wrapped_data_key",
    "schema_version",
    "bucket_day",
    "expires_on",
)
_RECORD_COLUMNS = ("client_id", "marketplace", "account", "marketplace_order_id", *_PAYLOAD_COLUMNS)
_record_columns = attrgetter(*_RECORD_COLUMNS)
_payload_columns = attrgetter(*_PAYLOAD_COLUMNS)


def _insert_first_versions(
    session: Session, records: Sequence[OrderRecord], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert version 1 of each order; the ids of those inserted, by key (a conflict skips)."""
    if not records:
        return {}
    # Column by column, gathered in C: no dict per row to build and take apart again.
    gathered = zip(*map(_record_columns, records), strict=True)
    columns = dict(zip(_RECORD_COLUMNS, map(list, gathered), strict=True))
    columns["clear"] = [
        dict(record.clear) if record.clear_json is None else JsonText(record.clear_json)
        for record in records
    ]
    rows = insert_columns(
        session,
        _ORDERS,
        columns,
        shared={
            "version": 1,
            "first_stored_at": now,
            "last_stored_at": now,
            "shredded_at": None,
            "shred_reason": None,
        },
        skip_conflicts_on=("client_id", "marketplace", "marketplace_order_id"),
        returning=("id", "marketplace", "marketplace_order_id"),
    )
    return {(row.marketplace, row.marketplace_order_id): row.id for row in rows}


def _write_version_rows(
    session: Session,
    versions: Sequence[tuple[int, int, OrderRecord, Sequence[str]]],
    now: datetime,
) -> list[tuple[int, ...]]:
    """Blind-index and outbox rows of (order id, version, record, destinations), distinct
    orders; one multi-row INSERT per table. The outbox row ids, per entry, in its order."""
    index_entries = [
        (record.client_id, order_id, kind, digest)
        for order_id, _, record, _ in versions
        for kind, digest in dict.fromkeys(record.blind_index)
    ]
    if index_entries:
        client_ids, order_ids, kinds, digests = map(list, zip(*index_entries, strict=True))
        insert_columns(
            session,
            _BLIND_INDEX,
            {"client_id": client_ids, "order_id": order_ids, "kind": kinds, "digest": digests},
        )
    outbox = [
        (
            order_id,
            version,
            record.client_id,
            destination,
            delivery_idempotency_key(
                record.client_id,
                record.marketplace,
                record.marketplace_order_id,
                version,
                destination,
            ),
        )
        for order_id, version, record, destinations in versions
        for destination in dict.fromkeys(destinations)
    ]
    ids: dict[tuple[int, str], int] = {}
    if outbox:
        returned = insert_columns(
            session,
            _DELIVERIES,
            dict(zip(_DELIVERY_COLUMNS, map(list, zip(*outbox, strict=True)), strict=True)),
            shared=_pending_delivery(now),
            returning=("id", "order_id", "destination"),
        )
        ids = {(row.order_id, row.destination): row.id for row in returned}
    return [
        tuple(ids[(order_id, destination)] for destination in dict.fromkeys(destinations))
        for order_id, _, _, destinations in versions
    ]


# The outbox columns that differ between a version's rows; `_pending_delivery` has the rest.
_DELIVERY_COLUMNS = ("order_id", "order_version", "client_id", "destination", "idempotency_key")


def _pending_delivery(now: datetime) -> dict[str, Any]:
    """An outbox row's columns as a new version leaves them: waiting for its first attempt."""
    return {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "leased_by": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def _payload(record: OrderRecord) -> dict[str, Any]:
    payload = dict(zip(_PAYLOAD_COLUMNS, _payload_columns(record), strict=True))
    payload["clear"] = dict(record.clear)
    return payload


def get_order(session: Session, order_id: int) -> Order | None:
    return session.get(Order, order_id)


def iter_orders_by_bucket(
    session: Session,
    client_id: str,
    *,
    first_day: date,
    last_day: date,
    batch_size: int = 500,
) -> Iterator[Order]:
    """A client's orders whose bucket day lies in [first_day, last_day], in id order.

    Read in batches by id, so memory stays flat and rows re-bucketed during the walk are
    neither skipped nor seen twice. Shredded orders have no bucket and never appear.
    """
    last_id = 0
    while True:
        batch = session.scalars(
            sa.select(Order)
            .where(
                Order.client_id == client_id,
                Order.bucket_day >= first_day,
                Order.bucket_day <= last_day,
                Order.id > last_id,
            )
            .order_by(Order.id)
            .limit(batch_size)
        ).all()
        yield from batch
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


def mark_shredded(session: Session, order_id: int, *, reason: str, now: datetime) -> bool:
    """Drop one order's PII (ciphertext, wrapped key, bucket, blind index). False if already."""
    now = ensure_utc(now)
    session.execute(sa.delete(BlindIndexEntry).where(BlindIndexEntry.order_id == order_id))
    result = session.execute(
        sa.update(Order)
        .where(Order.id == order_id, Order.shredded_at.is_(None))
        .values(**_shredded_values(reason, now))
    )
    return rowcount(result) == 1


def shred_bucket(
    session: Session, *, client_id: str, bucket_day: date, reason: str, now: datetime
) -> int:
    """Shred every order of a client whose data key sits in `bucket_day`; returns how many."""
    now = ensure_utc(now)
    in_bucket = sa.select(Order.id).where(
        Order.client_id == client_id, Order.bucket_day == bucket_day
    )
    session.execute(sa.delete(BlindIndexEntry).where(BlindIndexEntry.order_id.in_(in_bucket)))
    result = session.execute(
        sa.update(Order)
        .where(Order.client_id == client_id, Order.bucket_day == bucket_day)
        .values(**_shredded_values(reason, now))
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result)


def _shredded_values(reason: str, now: datetime) -> dict[str, Any]:
    return {
        "pii_ciphertext": None,
        "wrapped_data_key": None,
        "bucket_day": None,
        "shredded_at": now,
        "shred_reason": reason,
    }


def rewrap_order(
    session: Session,
    order_id: int,
    *,
    expected_wrapped_key: bytes,
    wrapped_data_key: bytes,
    bucket_day: date,
) -> bool:
    """Move an order's data key to another bucket, if its key is still `expected_wrapped_key`.

    The compare-and-set matters: if a new version replaced the sealed columns since the
    caller read them, writing the re-wrapped old key would make the new ciphertext unreadable.
    Returns False (and writes nothing) in that case, or if the order was shredded.
    """
    result = session.execute(
        sa.update(Order)
        .where(
            Order.id == order_id,
            Order.wrapped_data_key == expected_wrapped_key,
            Order.shredded_at.is_(None),
        )
        .values(wrapped_data_key=wrapped_data_key, bucket_day=bucket_day)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


def find_order_ids_by_blind_index(
    session: Session, client_id: str, kind: str, digest: str
) -> list[int]:
    """Ids of a client's (unshredded) orders with this blind-index digest, ascending."""
    return list(
        session.scalars(
            sa.select(BlindIndexEntry.order_id)
            .where(
                BlindIndexEntry.client_id == client_id,
                BlindIndexEntry.kind == kind,
                BlindIndexEntry.digest == digest,
            )
            .distinct()
            .order_by(BlindIndexEntry.order_id)
        )
    )
