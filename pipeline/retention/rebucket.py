"""Keep each order's data key in the bucket of its real expiry day.

Ingest seals an order into the bucket of its expiry day as known then: for an undelivered order
an estimate. Three things move it later on, and each re-wraps only the 32-byte data key (the
ciphertext is untouched):

* delivery or cancellation fixes the day at done + retention days (earlier or later than the
  estimate), and a change of the client's retention moves delivered orders with it;
* an undelivered order whose bucket is about to die (its day is tomorrow or today) moves to
  `now + retention days`, never past `purchased_at + max_undelivered_days`: a copy taken now
  then still dies no later than retention days after any delivery that can still come;
* an order whose day has already come, or an undelivered order past its cap, is shredded.

Only a live bucket can be moved out of: an order whose bucket day has begun is left for the
expiry run to purge with its bucket.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from crypto import BucketDestroyedError, DecryptError, RecordRef
from pipeline.clients import ClientConfig
from pipeline.runtime import Runtime
from storage import audit, mark_shredded, rewrap_order, write_session
from storage.models import Order

__all__ = [
    "MoveOutcome",
    "MoveReport",
    "OrderTiming",
    "move_data_keys",
    "planned_day",
    "rewrap_to_expiry",
]

EXPIRY_ACTOR = "job:expire"
_SCAN_BATCH_ROWS = 1000


class MoveOutcome(enum.StrEnum):
    UNCHANGED = "unchanged"  # already in the right bucket
    MOVED = "moved"  # data key re-wrapped into another bucket
    SHREDDED = "shredded"  # its day has come (or the undelivered cap passed): PII dropped
    RACED = "raced"  # a newer version replaced the key meanwhile; that version is sealed anew
    GONE = "gone"  # no such order, already shredded, or its bucket is dead (expiry purges it)


class OrderTiming(Protocol):
    """The clear columns of an order that decide its bucket day (a row or an ORM object)."""

    @property
    def purchased_at(self) -> datetime: ...
    @property
    def delivered_at(self) -> datetime | None: ...
    @property
    def cancelled_at(self) -> datetime | None: ...
    @property
    def bucket_day(self) -> date | None: ...


def planned_day(order: OrderTiming, client: ClientConfig, now: datetime) -> tuple[date, str | None]:
    """(the bucket day `order` belongs in, the shred reason if that day has come already)."""
    if order.bucket_day is None:
        raise ValueError("the order holds no sealed PII")
    today = now.date()
    retention = timedelta(days=client.retention.days_after_delivery)
    done = order.delivered_at or order.cancelled_at
    if done is not None:
        day = (done + retention).date()
        return day, ("retention" if day <= today else None)
    cap = (order.purchased_at + timedelta(days=client.retention.max_undelivered_days)).date()
    day = order.bucket_day
    if day > cap:
        day = cap
    elif day <= today + timedelta(days=1):
        day = max(day, min(cap, (now + retention).date()))
    if day == cap and cap <= today:
        return day, "undelivered_cap"
    return day, None


def rewrap_to_expiry(
    runtime: Runtime, client: ClientConfig, order_id: int, *, now: datetime | None = None
) -> MoveOutcome:
    """Move order `order_id`'s data key to the bucket of its expiry day, or shred it if due.

    Idempotent and safe against a concurrent new version (compare-and-set on the wrapped key).
    """
    now = runtime.clock() if now is None else now
    with runtime.sessions() as session:
        row = session.get(Order, order_id)
        if row is not None:
            session.expunge(row)
    if (
        row is None
        or row.client_id != client.id
        or row.wrapped_data_key is None
        or row.bucket_day is None
        or row.shredded_at is not None
    ):
        return MoveOutcome.GONE
    if row.bucket_day <= now.date():
        return MoveOutcome.GONE
    day, reason = planned_day(row, client, now)
    if reason is not None:
        return _shred_one(runtime, row, reason, now)
    if day == row.bucket_day:
        return MoveOutcome.UNCHANGED
    ref = RecordRef(row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version)
    try:
        rewrapped = runtime.vault.rewrap(ref, row.wrapped_data_key, day)
    except (DecryptError, BucketDestroyedError):
        # Source dead (its day began meanwhile) or target closed: the expiry run shreds it.
        return MoveOutcome.GONE
    with write_session(runtime.sessions) as session:
        swapped = rewrap_order(
            session,
            order_id,
            expected_wrapped_key=row.wrapped_data_key,
            wrapped_data_key=rewrapped.wrapped_key,
            bucket_day=rewrapped.bucket_day,
        )
        if swapped:
            # The bucket day is the expiry date (DESIGN.md): keep the two in step.
            session.execute(sa.update(Order).where(Order.id == order_id).values(expires_on=day))
    return MoveOutcome.MOVED if swapped else MoveOutcome.RACED


def _shred_one(runtime: Runtime, row: Order, reason: str, now: datetime) -> MoveOutcome:
    with write_session(runtime.sessions) as session:
        # Only if the key is still the one we judged: a newer version is judged on its own.
        current = session.scalar(
            sa.select(Order.wrapped_data_key).where(Order.id == row.id).with_for_update()
        )
        if current != row.wrapped_data_key:
            return MoveOutcome.RACED
        mark_shredded(session, row.id, reason=reason, now=now)
        audit.append(
            session,
            actor=EXPIRY_ACTOR,
            action="shred_order",
            client_id=row.client_id,
            subject={"order_id": row.id},
            details={"reason": reason, "bucket_day": str(row.bucket_day)},
            now=now,
        )
    return MoveOutcome.SHREDDED


@dataclass(frozen=True)
class _LiveOrder:
    id: int
    client_id: str
    purchased_at: datetime
    delivered_at: datetime | None
    cancelled_at: datetime | None
    bucket_day: date | None


@dataclass
class MoveReport:
    """What one pass of `move_data_keys` did (or, in a dry run, would do)."""

    checked: int = 0
    moved: int = 0
    shredded: int = 0
    raced: int = 0
    skipped_unknown_client: int = 0

    def add(self, outcome: MoveOutcome) -> None:
        if outcome is MoveOutcome.MOVED:
            self.moved += 1
        elif outcome is MoveOutcome.SHREDDED:
            self.shredded += 1
        elif outcome is MoveOutcome.RACED:
            self.raced += 1


def _live_orders(runtime: Runtime, today: date) -> Iterator[_LiveOrder]:
    """Timing columns of every order whose bucket is still alive, in id order, in batches."""
    last_id = 0
    while True:
        with runtime.sessions() as session:
            batch = session.execute(
                sa.select(
                    Order.id,
                    Order.client_id,
                    Order.purchased_at,
                    Order.delivered_at,
                    Order.cancelled_at,
                    Order.bucket_day,
                )
                .where(Order.bucket_day > today, Order.id > last_id)
                .order_by(Order.id)
                .limit(_SCAN_BATCH_ROWS)
            ).all()
        for row in batch:
            yield _LiveOrder(*row)
        if len(batch) < _SCAN_BATCH_ROWS:
            return
        last_id = batch[-1].id


def move_data_keys(runtime: Runtime, now: datetime, *, dry_run: bool = False) -> MoveReport:
    """Re-bucket every live order whose bucket day is not its planned day (see the module)."""
    report = MoveReport()
    clients = runtime.config.clients
    for row in _live_orders(runtime, now.date()):
        report.checked += 1
        client = clients.get(row.client_id)
        if client is None:
            # No retention settings to judge by; its bucket still dies on its own day.
            report.skipped_unknown_client += 1
            continue
        day, reason = planned_day(row, client, now)
        if reason is None and day == row.bucket_day:
            continue
        if dry_run:
            report.add(MoveOutcome.SHREDDED if reason else MoveOutcome.MOVED)
            continue
        report.add(rewrap_to_expiry(runtime, client, row.id, now=now))
    return report
