"""Destroying a bucket key, then purging what it protected: the two halves of one shred.

The halves commit to different databases (the key store, the data database), so a crash can
fall between them. The data side therefore finds its own work: any row whose bucket day has
come still holding ciphertext, or any quarantine entry of such a day, names a bucket to finish,
whether or not its key is already gone. Destroying again is idempotent, and the purge and its
audit event commit together, so a rerun ends with every due bucket destroyed, purged and
audited exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto import BucketTombstone
from pipeline import metrics
from pipeline.runtime import Runtime
from storage import audit, mark_shredded, quarantine, shred_bucket, write_session
from storage.models import Order, QuarantineEntry

__all__ = ["BucketResult", "destroy_key", "pending_buckets", "purge_bucket_rows"]


@dataclass(frozen=True)
class BucketResult:
    """One destroyed bucket: which key, its commitment, and what was purged with it."""

    client_id: str
    day: date
    key_id: str
    commitment: str | None
    orders: int
    undelivered_cap: int
    quarantined: int


def pending_buckets(
    runtime: Runtime, *, through_day: date, client_id: str | None = None
) -> list[tuple[str, date]]:
    """(client, day) of every bucket due by `through_day` that is alive or not yet purged.

    Active keys come from the key store; destroyed-but-unpurged buckets from the data rows
    still sealed under them. Sorted by day, then client.
    """
    found = set(runtime.vault.buckets_due(through_day))
    with runtime.sessions() as session:
        orders = sa.select(Order.client_id, Order.bucket_day).where(Order.bucket_day <= through_day)
        held = sa.select(QuarantineEntry.client_id, QuarantineEntry.bucket_day).where(
            QuarantineEntry.bucket_day <= through_day
        )
        if client_id is not None:
            orders = orders.where(Order.client_id == client_id)
            held = held.where(QuarantineEntry.client_id == client_id)
        for query in (orders, held):
            found.update((c, d) for c, d in session.execute(query.distinct()) if d is not None)
    if client_id is not None:
        found = {(c, d) for c, d in found if c == client_id}
    return sorted(found, key=lambda item: (item[1], item[0]))


def destroy_key(runtime: Runtime, client_id: str, day: date, now: datetime) -> BucketTombstone:
    """Destroy the bucket key of (client, day); idempotent, returns its tombstone."""
    tombstone = runtime.vault.destroy_bucket(client_id, day, now)
    metrics.record_bucket_keys_destroyed(client_id)
    return tombstone


def purge_bucket_rows(
    runtime: Runtime,
    tombstone: BucketTombstone,
    *,
    now: datetime,
    actor: str,
    reason: str = "retention",
    max_undelivered_days: int | None = None,
) -> BucketResult:
    """After its key died: shred the bucket's orders, delete its quarantine entries, and audit
    one `shred` event, all in one transaction.

    With `max_undelivered_days`, undelivered orders whose cap has come are shredded with the
    reason "undelivered_cap", so the evidence tells them from ordinary expiry.
    """
    client_id, day = tombstone.client_id, tombstone.day
    with write_session(runtime.sessions) as session:
        capped = 0
        if max_undelivered_days is not None:
            capped = _shred_capped(session, client_id, day, max_undelivered_days, now)
        shredded = shred_bucket(
            session, client_id=client_id, bucket_day=day, reason=reason, now=now
        )
        purged = quarantine.purge_bucket(session, client_id=client_id, bucket_day=day)
        audit.append(
            session,
            actor=actor,
            action="shred",
            client_id=client_id,
            subject={"bucket_day": day.isoformat(), "key_id": tombstone.key_id},
            details={
                "reason": reason,
                "key_commitment": tombstone.commitment,
                "key_destroyed_at": tombstone.destroyed_at.isoformat(),
                "orders": capped + shredded,
                "undelivered_cap": capped,
                "quarantined": purged,
            },
            now=now,
        )
    return BucketResult(
        client_id=client_id,
        day=day,
        key_id=tombstone.key_id,
        commitment=tombstone.commitment,
        orders=capped + shredded,
        undelivered_cap=capped,
        quarantined=purged,
    )


def _shred_capped(
    session: Session, client_id: str, day: date, max_undelivered_days: int, now: datetime
) -> int:
    undelivered = session.execute(
        sa.select(Order.id, Order.purchased_at).where(
            Order.client_id == client_id,
            Order.bucket_day == day,
            Order.delivered_at.is_(None),
            Order.cancelled_at.is_(None),
        )
    ).all()
    cap = timedelta(days=max_undelivered_days)
    count = 0
    for order_id, purchased_at in undelivered:
        if (purchased_at + cap).date() <= day:
            count += mark_shredded(session, order_id, reason="undelivered_cap", now=now)
    return count
