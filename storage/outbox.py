"""The delivery outbox: claim rows under a lease, record the outcome, sweep, replay, count.

A delivery row is written in the same transaction as the order version it forwards
(`storage.orders.upsert_order`); workers then claim rows, send, and mark them. A claim is a
lease: if the worker dies, the row becomes claimable again when `lease_until` passes. Claims
never hand one row to two workers while its lease holds: PostgreSQL locks the candidate rows
with SELECT ... FOR UPDATE SKIP LOCKED, SQLite claims inside BEGIN IMMEDIATE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from storage.db import is_sqlite, require_write_lock, write_session
from storage.models import DELIVERY_STATUSES, Delivery
from storage.outbox_statements import (
    claim_statement,
    claimable,
    delivered_statement,
    release_statement,
)
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


def delivery_idempotency_key(
    client_id: str, marketplace: str, marketplace_order_id: str, version: int, destination: str
) -> str:
    """Hex SHA-256 naming one version of one order for one destination, stable across retries."""
    parts = (client_id, marketplace, marketplace_order_id, str(version), destination)
    if any("\x00" in part for part in parts):
        raise ValueError("identifiers must not contain NUL (it separates the key's parts)")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


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
    statement = claim_statement(is_sqlite(session), delivery_ids is not None, client_id is not None)
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
    statement = delivered_statement(is_sqlite(session))
    return rowcount(session.execute(statement, {"ids": list(delivery_ids), "now": ensure_utc(now)}))


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
    return rowcount(session.execute(release_statement(is_sqlite(session)), params))


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
            .where(claimable(cutoff))
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
