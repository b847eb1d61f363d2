"""Quarantine: payloads that failed validation, kept sealed until someone resolves them.

The payload is sealed under its bucket key like any order, so it is shredded with its bucket.
`reason` and `field` name what was wrong, never a value from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import QuarantineEntry
from storage.sqltypes import ensure_utc
from storage.statements import rowcount


@dataclass(frozen=True)
class QuarantinedPayload:
    """A quarantine row without its sealed bytes (listing needs none)."""

    id: int
    client_id: str
    marketplace: str
    account: str
    marketplace_order_id: str | None
    reason: str
    field: str | None
    received_at: datetime
    bucket_day: date
    resolved_at: datetime | None


def add_quarantined(
    session: Session,
    *,
    client_id: str,
    marketplace: str,
    account: str,
    marketplace_order_id: str | None,
    reason: str,
    field: str | None,
    sealed_payload: bytes,
    wrapped_data_key: bytes,
    bucket_day: date,
    now: datetime,
    payload_digest: str | None = None,
) -> int:
    """Store a sealed payload that failed validation; returns its id."""
    entry = QuarantineEntry(
        payload_digest=payload_digest,
        client_id=client_id,
        marketplace=marketplace,
        account=account,
        marketplace_order_id=marketplace_order_id,
        reason=reason,
        field=field,
        received_at=ensure_utc(now),
        sealed_payload=sealed_payload,
        wrapped_data_key=wrapped_data_key,
        bucket_day=bucket_day,
    )
    session.add(entry)
    session.flush()
    return entry.id


def find_quarantined(session: Session, *, client_id: str, payload_digest: str) -> int | None:
    """The id of an unresolved entry of this client holding the same payload, if any."""
    return session.scalar(
        sa.select(QuarantineEntry.id)
        .where(
            QuarantineEntry.client_id == client_id,
            QuarantineEntry.payload_digest == payload_digest,
            QuarantineEntry.resolved_at.is_(None),
        )
        .order_by(QuarantineEntry.id)
        .limit(1)
    )


def list_quarantined(
    session: Session,
    *,
    client_id: str | None = None,
    include_resolved: bool = False,
    limit: int = 100,
    after_id: int = 0,
) -> list[QuarantinedPayload]:
    """Quarantined payloads in id order, `limit` at a time (pass the last id as `after_id`)."""
    query = (
        sa.select(
            QuarantineEntry.id,
            QuarantineEntry.client_id,
            QuarantineEntry.marketplace,
            QuarantineEntry.account,
            QuarantineEntry.marketplace_order_id,
            QuarantineEntry.reason,
            QuarantineEntry.field,
            QuarantineEntry.received_at,
            QuarantineEntry.bucket_day,
            QuarantineEntry.resolved_at,
        )
        .where(QuarantineEntry.id > after_id)
        .order_by(QuarantineEntry.id)
        .limit(limit)
    )
    if client_id is not None:
        query = query.where(QuarantineEntry.client_id == client_id)
    if not include_resolved:
        query = query.where(QuarantineEntry.resolved_at.is_(None))
    return [QuarantinedPayload(**row._asdict()) for row in session.execute(query)]


def get_sealed(session: Session, quarantine_id: int) -> QuarantineEntry | None:
    """The full row, sealed payload and wrapped key included (to open it for review)."""
    return session.get(QuarantineEntry, quarantine_id)


def resolve_quarantined(session: Session, quarantine_id: int, *, now: datetime) -> bool:
    """Mark an entry resolved. False if it does not exist or was resolved already."""
    result = session.execute(
        sa.update(QuarantineEntry)
        .where(QuarantineEntry.id == quarantine_id, QuarantineEntry.resolved_at.is_(None))
        .values(resolved_at=ensure_utc(now))
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


def purge_bucket(session: Session, *, client_id: str, bucket_day: date) -> int:
    """Delete a client's quarantined payloads sealed in `bucket_day` (after its key died)."""
    result = session.execute(
        sa.delete(QuarantineEntry)
        .where(QuarantineEntry.client_id == client_id, QuarantineEntry.bucket_day == bucket_day)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result)
