"""The delivery outbox: claim rows under a lease, record the outcome, sweep, replay, count.

A delivery row is written in the same transaction as the order version it forwards
(`storage.orders.upsert_order`); workers then claim rows, send, and mark them. A claim is a
lease: if the worker dies, the row becomes claimable again when `lease_until` passes. Claims
never hand one row to two workers while its lease holds: PostgreSQL locks the candidate rows
with SELECT ... FOR UPDATE SKIP LOCKED, SQLite claims inside BEGIN IMMEDIATE.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from storage.db import is_sqlite, require_write_lock, write_session
from storage.models import DELIVERY_STATUSES, Delivery
from storage.sqltypes import ensure_utc
from storage.statements import rowcount

LAST_ERROR_MAX_CHARS = 500

# Statuses a replay may put back to 'pending'. Not 'sending': that row is in a worker's hands.
REQUEUEABLE = frozenset({"pending", "failed", "dead", "delivered", "superseded"})


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery row as claimed: everything a worker needs to send it, and nothing more."""

    id: int
    order_id: int
    order_version: int
    client_id: str
    destination: str
    idempotency_key: str
    attempts: int
    lease_until: datetime
    leased_by: str


# How many rows a claim may top up to, given the claimed rows' client and destination.
TopUp = Callable[[str, str], int]

_DELIVERIES = cast(sa.Table, Delivery.__table__)


def delivery_idempotency_key(
    client_id: str, marketplace: str, marketplace_order_id: str, version: int, destination: str
) -> str:
    """Hex SHA-256 naming one version of one order for one destination, stable across retries."""
    parts = (client_id, marketplace, marketplace_order_id, str(version), destination)
    if any("\x00" in part for part in parts):
        raise ValueError("identifiers must not contain NUL (it separates the key's parts)")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _claimable(
    now: datetime | sa.BindParameter[Any], rows: sa.FromClause | None = None
) -> sa.ColumnElement[bool]:
    """Due: pending or failed with its next attempt come, or sending under a lapsed lease.

    `rows`: the deliveries table or an alias of it (the table itself when None).
    """
    c = (_DELIVERIES if rows is None else rows).c
    return sa.or_(
        sa.and_(c.status.in_(("pending", "failed")), c.next_attempt_at <= now),
        sa.and_(c.status == "sending", c.lease_until <= now),
    )


def claim(
    sessions: sessionmaker[Session] | Session,
    *,
    now: datetime,
    lease_s: float,
    worker_id: str,
    limit: int,
    delivery_ids: Collection[int] | None = None,
    top_up_to: int | TopUp = 0,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due rows (oldest due first) to `worker_id` for `lease_s` seconds.

    Due: pending or failed with next_attempt_at <= now, or sending with an expired lease.
    `delivery_ids` restricts the claim to those rows (a worker handling one message).
    `top_up_to`: if that claimed anything, also lease other due rows of the same client and
    destination, up to `top_up_to` rows in all, so one message drains what is waiting for a
    destination while its connection is open; the messages of the rows taken find them gone.
    A callable `top_up_to(client_id, destination)` gives that number once the destination is
    known (a batching destination tops up to its batch size, so one claim fills one request).
    Given a sessionmaker, the claim commits in its own write transaction; given a session,
    it joins the caller's transaction (on SQLite, start it with `storage.db.write_session`).
    """
    if isinstance(sessions, Session):
        require_write_lock(sessions, "outbox.claim")
        return _claim_topped_up(sessions, now, lease_s, worker_id, limit, delivery_ids, top_up_to)
    with write_session(sessions) as session:
        return _claim_topped_up(session, now, lease_s, worker_id, limit, delivery_ids, top_up_to)


def _claim_topped_up(
    session: Session,
    now: datetime,
    lease_s: float,
    worker_id: str,
    limit: int,
    delivery_ids: Collection[int] | None,
    top_up_to: int | TopUp,
) -> list[ClaimedDelivery]:
    claimed = _claim(session, now, lease_s, worker_id, limit, delivery_ids)
    if not claimed:
        return claimed
    first = claimed[0]
    if any((c.client_id, c.destination) != (first.client_id, first.destination) for c in claimed):
        return claimed  # a message mixing destinations: not one connection to keep busy
    if callable(top_up_to):
        top_up_to = top_up_to(first.client_id, first.destination)
    if len(claimed) >= top_up_to:
        return claimed
    more = _claim(
        session,
        now,
        lease_s,
        worker_id,
        top_up_to - len(claimed),
        None,
        client_id=first.client_id,
        destination=first.destination,
    )
    return claimed + more


def _claim(
    session: Session,
    now: datetime,
    lease_s: float,
    worker_id: str,
    limit: int,
    delivery_ids: Collection[int] | None,
    *,
    client_id: str | None = None,
    destination: str | None = None,
) -> list[ClaimedDelivery]:
    now = ensure_utc(now)
    if lease_s <= 0 or limit <= 0:
        raise ValueError("lease_s and limit must be positive")
    params: dict[str, Any] = {
        "now": now,
        "limit": limit,
        "lease_until": now + timedelta(seconds=lease_s),
        "worker_id": worker_id,
    }
    if delivery_ids is not None:
        params["ids"] = list(delivery_ids)
    if client_id is not None:
        params.update(of_client_id=client_id, of_destination=destination)
    sqlite = is_sqlite(session)
    statement: sa.Executable
    if delivery_ids is not None and client_id is None and not sqlite:
        statement = _CLAIM_BY_IDS_POSTGRESQL
    else:
        statement = _claim_statement(sqlite, delivery_ids is not None, client_id is not None)
    # RETURNING comes in no promised order: oldest due first, as the subquery chose them.
    rows = sorted(session.execute(statement, params), key=lambda row: (row.next_attempt_at, row.id))
    lease_until = params["lease_until"]
    return [
        ClaimedDelivery(
            id=row.id,
            order_id=row.order_id,
            order_version=row.order_version,
            client_id=row.client_id,
            destination=row.destination,
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            lease_until=lease_until,
            leased_by=worker_id,
        )
        for row in rows
    ]


def id_in_param(column: sa.ColumnElement[int], name: str, sqlite: bool) -> sa.ColumnElement[bool]:
    """`column IN (ids)`, the ids bound at execution as parameter `name`, for a statement
    built once. On PostgreSQL it is `= ANY(<one array parameter>)`: an IN list renders one
    parameter per id, so every claim size would be a new statement text that SQLAlchemy
    compiles and psycopg parses again; with one array the text never changes."""
    if sqlite:
        return column.in_(sa.bindparam(name, expanding=True))
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.BigInteger)))


# A message's claim on PostgreSQL: its rows, looked up one by one by primary key. The general
# statement below leaves the choice of index to the planner, which took the status index
# whenever the table's statistics said few rows were due: true of a quiet outbox, of a new one
# not yet analysed, and false during a backfill, when thousands are. Each claim then read
# every due row, and every dead index entry an update left behind until vacuum (each claim and
# each delivery moves a row to another status), to keep the hundred it was given: 2-3 ms of
# server time per claim of 100 after 20,000 forwarded rows, growing with the backlog and the
# history. Here nothing is left to the statistics:
# - unnest + LATERAL ... LIMIT 1: a primary-key lookup per id (the LIMIT keeps the planner
#   from flattening the subquery into a join it could plan as a scan);
# - OFFSET 0 keeps NOT EXISTS a per-row probe of the (order, version, destination) unique
#   index, not an anti-join over every row that was ever 'sending';
# - ARRAY(...) hands the UPDATE a list of ids to find by primary key, not a join to plan.
# Rows are locked (FOR UPDATE ... SKIP LOCKED) inside the lateral subquery, after its filter,
# and a row changed by a concurrent claim is re-checked against the filter there, as the
# general statement's would be.
_CLAIM_BY_IDS_POSTGRESQL = sa.text(
    """
    UPDATE deliveries
    SET status = 'sending', attempts = deliveries.attempts + 1,
        lease_until = :lease_until, leased_by = :worker_id
    WHERE deliveries.id = ANY(ARRAY(
        SELECT due.id
        FROM unnest(:ids) AS k(id)
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at
            FROM deliveries AS d
            WHERE d.id = k.id
              AND ((d.status IN ('pending', 'failed') AND d.next_attempt_at <= :now)
                   OR (d.status = 'sending' AND d.lease_until <= :now))
              AND NOT EXISTS (
                  SELECT FROM deliveries AS older
                  WHERE older.order_id = d.order_id
                    AND older.destination = d.destination
                    AND older.order_version < d.order_version
                    AND older.status = 'sending'
                    AND older.lease_until > :now
                  OFFSET 0)
            LIMIT 1) AS due
        ORDER BY due.next_attempt_at, due.id
        LIMIT :limit
        FOR UPDATE OF due SKIP LOCKED))
    RETURNING deliveries.id, deliveries.order_id, deliveries.order_version,
        deliveries.client_id, deliveries.destination, deliveries.idempotency_key,
        deliveries.attempts, deliveries.next_attempt_at
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("now", type_=_DELIVERIES.c.next_attempt_at.type),
    sa.bindparam("lease_until", type_=_DELIVERIES.c.lease_until.type),
    sa.bindparam("worker_id", type_=sa.String),
    sa.bindparam("limit", type_=sa.Integer),
)


@functools.cache
def _claim_statement(sqlite: bool, by_ids: bool, by_destination: bool) -> sa.Update:
    """The claim, one statement per shape, built once and executed with parameters.

    One UPDATE whose subquery picks and locks the due rows, instead of a SELECT and then an
    UPDATE by their ids: a round trip and a list of ids less per claim. Building statements
    on every claim cost more CPU than the database spent running them, and a statement object
    that is reused keeps its cache key, so SQLAlchemy compiles it once.
    """
    d = _DELIVERIES.c
    # The subquery reads an alias: against the table itself SQLAlchemy would correlate it
    # with the UPDATE's own table and drop its FROM.
    due = _DELIVERIES.alias("due")
    now = sa.bindparam("now", type_=d.next_attempt_at.type)
    # Not while an older version of the same order is on its way to the same destination under
    # a live lease: the newer one waits, so it cannot overtake (order kept per order id). An
    # expired lease no longer holds it back (that worker is presumed dead; receivers can also
    # drop a late older version by `order_version`).
    older = _DELIVERIES.alias("older")
    no_older_in_flight = ~sa.exists().where(
        older.c.order_id == due.c.order_id,
        older.c.destination == due.c.destination,
        older.c.order_version < due.c.order_version,
        older.c.status == "sending",
        older.c.lease_until > now,
    )
    select_due = (
        sa.select(due.c.id)
        .where(_claimable(now, due), no_older_in_flight)
        .order_by(due.c.next_attempt_at, due.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        # Rows another worker is claiming right now are skipped, not waited for; once that
        # claim commits, the re-checked WHERE no longer matches them. SQLite ignores this and
        # relies on the write lock instead.
        .with_for_update(skip_locked=True)
    )
    if by_ids:
        select_due = select_due.where(id_in_param(due.c.id, "ids", sqlite))
    if by_destination:
        select_due = select_due.where(
            # Not named after the columns: an UPDATE reserves those names for its SET values.
            due.c.client_id == sa.bindparam("of_client_id", type_=d.client_id.type),
            due.c.destination == sa.bindparam("of_destination", type_=d.destination.type),
        )
    return (
        sa.update(_DELIVERIES)
        .where(d.id.in_(select_due))
        .values(
            status="sending",
            lease_until=sa.bindparam("lease_until", type_=d.lease_until.type),
            leased_by=sa.bindparam("worker_id", type_=d.leased_by.type),
            attempts=d.attempts + 1,
        )
        .returning(
            d.id,
            d.order_id,
            d.order_version,
            d.client_id,
            d.destination,
            d.idempotency_key,
            d.attempts,
            d.next_attempt_at,
        )
    )


def mark_delivered(session: Session, delivery_id: int, *, now: datetime) -> bool:
    """Record a successful send. False if the row was not being sent (nothing changes).

    Accepted from any worker: a worker whose lease ran out may still have delivered, and the
    destination deduplicates on the idempotency key.
    """
    now = ensure_utc(now)
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending")
        .values(status="delivered", delivered_at=now, lease_until=None, leased_by=None)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


def mark_delivered_many(session: Session, delivery_ids: Collection[int], *, now: datetime) -> int:
    """`mark_delivered` for many rows in one statement; returns how many were being sent."""
    if not delivery_ids:
        return 0
    statement = _delivered_statement(is_sqlite(session))
    return rowcount(session.execute(statement, {"ids": list(delivery_ids), "now": ensure_utc(now)}))


@functools.cache
def _delivered_statement(sqlite: bool) -> sa.Executable:
    if not sqlite:
        return _DELIVERED_POSTGRESQL
    d = _DELIVERIES.c
    return (
        sa.update(_DELIVERIES)
        .where(id_in_param(d.id, "ids", sqlite), d.status == "sending")
        .values(
            status="delivered",
            delivered_at=sa.bindparam("now", type_=d.delivered_at.type),
            lease_until=None,
            leased_by=None,
        )
    )


# The rows a worker sent, by primary key, for the reason `_CLAIM_BY_IDS_POSTGRESQL` gives:
# `id = ANY(ids) AND status = 'sending'` was planned as a read of the status index's 'sending'
# entries (few by the statistics), and every claim left one there, dead until vacuum. Each
# row is locked in the subquery and its status re-checked if a concurrent transaction changed
# it, as the UPDATE's own WHERE would be.
_DELIVERED_POSTGRESQL = sa.text(
    """
    UPDATE deliveries
    SET status = 'delivered', delivered_at = :now, lease_until = NULL, leased_by = NULL
    WHERE deliveries.id = ANY(ARRAY(
        SELECT sending.id
        FROM unnest(:ids) AS k(id)
        CROSS JOIN LATERAL (
            SELECT d.id FROM deliveries AS d
            WHERE d.id = k.id AND d.status = 'sending'
            LIMIT 1
            FOR UPDATE) AS sending))
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("now", type_=_DELIVERIES.c.delivered_at.type),
)


def release(
    session: Session,
    delivery_ids: Collection[int],
    *,
    worker_id: str,
    retry_at: datetime,
) -> int:
    """Hand claimed rows back unsent, due at `retry_at`; the claim's attempt is not counted.

    For rows a worker leased but did not try (the destination failed on an earlier row of the
    same claim, or the lease is running out). Only the lease holder may.
    """
    if not delivery_ids:
        return 0
    params = {"ids": list(delivery_ids), "worker_id": worker_id, "retry_at": ensure_utc(retry_at)}
    return rowcount(session.execute(_release_statement(is_sqlite(session)), params))


@functools.cache
def _release_statement(sqlite: bool) -> sa.Update:
    d = _DELIVERIES.c
    return (
        sa.update(_DELIVERIES)
        .where(
            id_in_param(d.id, "ids", sqlite),
            d.status == "sending",
            d.leased_by == sa.bindparam("worker_id", type_=d.leased_by.type),
        )
        .values(
            status="pending",
            next_attempt_at=sa.bindparam("retry_at", type_=d.next_attempt_at.type),
            attempts=d.attempts - 1,
            lease_until=None,
            leased_by=None,
        )
    )


def mark_failed(
    session: Session,
    delivery_id: int,
    *,
    worker_id: str,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed send: retry at `retry_at`, or give up ('dead') when it is None.

    Only the worker holding the lease may do this, so a worker whose lease expired cannot
    overwrite the outcome of the worker that took the row over. `error` must carry no PII.
    """
    values: dict[str, Any] = {
        "last_error": error[:LAST_ERROR_MAX_CHARS],
        "lease_until": None,
        "leased_by": None,
    }
    if retry_at is None:
        values["status"] = "dead"
    else:
        values.update(status="failed", next_attempt_at=ensure_utc(retry_at))
    result = session.execute(
        sa.update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == "sending",
            Delivery.leased_by == worker_id,
        )
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


def mark_superseded(session: Session, delivery_id: int, *, worker_id: str) -> bool:
    """Retire a claimed row whose order has a newer version (which has its own rows).

    Only the lease holder may, like `mark_failed`.
    """
    result = session.execute(
        sa.update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == "sending",
            Delivery.leased_by == worker_id,
        )
        .values(status="superseded", lease_until=None, leased_by=None)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


def due_for_sweep(
    session: Session, *, now: datetime, lost_after_s: float, limit: int = 1000
) -> list[int]:
    """Ids of rows that have been claimable for more than `lost_after_s`: their message was lost.

    The sweep job re-enqueues these; claiming stays idempotent, so a message that was only
    slow costs one extra no-op.
    """
    cutoff = ensure_utc(now) - timedelta(seconds=lost_after_s)
    return list(
        session.scalars(
            sa.select(Delivery.id)
            .where(_claimable(cutoff))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        )
    )


def requeue(
    session: Session,
    *,
    now: datetime,
    statuses: Collection[str],
    delivery_ids: Sequence[int] | None = None,
    client_id: str | None = None,
    destination: str | None = None,
) -> list[int]:
    """Put rows in `statuses` (optionally only these ids / client / destination) back to pending.

    For replay. Attempts are kept (they count every try); the row is due at `now`.
    """
    now = ensure_utc(now)
    wanted = set(statuses)
    if not wanted <= REQUEUEABLE:
        raise ValueError(f"cannot requeue rows in {sorted(wanted - REQUEUEABLE)}")
    conditions: list[sa.ColumnElement[bool]] = [Delivery.status.in_(sorted(wanted))]
    if delivery_ids is not None:
        conditions.append(Delivery.id.in_(list(delivery_ids)))
    if client_id is not None:
        conditions.append(Delivery.client_id == client_id)
    if destination is not None:
        conditions.append(Delivery.destination == destination)
    rows = session.execute(
        sa.update(Delivery)
        .where(*conditions)
        .values(status="pending", next_attempt_at=now, lease_until=None, leased_by=None)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(row.id for row in rows)


def counts_by_status(session: Session, *, client_id: str | None = None) -> dict[str, int]:
    """Number of rows per status, every status present (zero included)."""
    query = sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
    if client_id is not None:
        query = query.where(Delivery.client_id == client_id)
    counts = dict.fromkeys(DELIVERY_STATUSES, 0)
    for status, count in session.execute(query):
        counts[status] = count
    return counts
