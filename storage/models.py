"""The data database: orders, the delivery outbox, cursors, blind index, audit log, quarantine.

Timestamps are aware UTC (`UtcDateTime`); they are set by the repositories from a `now` the
caller passes in, never by the database clock, so tests and replays are deterministic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.sqltypes import NAMING_CONVENTION, BigId, UtcDateTime

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "dead", "superseded")


class DataBase(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: sa.JSON()}


class Order(DataBase):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "marketplace", "marketplace_order_id"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        # A shredded order keeps no ciphertext and no wrapped key: the promise, enforced.
        sa.CheckConstraint(
            "shredded_at IS NULL OR (pii_ciphertext IS NULL AND wrapped_data_key IS NULL)",
            name="shredded_holds_no_pii",
        ),
        sa.Index("ix_orders_client_id_bucket_day", "client_id", "bucket_day"),
        sa.Index("ix_orders_client_id_expires_on", "client_id", "expires_on"),
        sa.Index("ix_orders_client_id_status", "client_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    marketplace: Mapped[str] = mapped_column(sa.String(16))
    account: Mapped[str] = mapped_column(sa.String(64))
    marketplace_order_id: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int]
    content_digest: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(24))
    purchased_at: Mapped[datetime]
    marketplace_updated_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    latest_delivery_by: Mapped[datetime | None]
    delivery_source: Mapped[str | None] = mapped_column(sa.String(32))
    clear: Mapped[dict[str, Any]]
    pii_ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    wrapped_data_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    schema_version: Mapped[int]
    bucket_day: Mapped[date | None]
    expires_on: Mapped[date | None]
    shredded_at: Mapped[datetime | None]
    shred_reason: Mapped[str | None] = mapped_column(sa.String(32))
    first_stored_at: Mapped[datetime]
    last_stored_at: Mapped[datetime]


class Delivery(DataBase):
    """One outbox row: forward version `order_version` of an order to one destination."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "order_version", "destination"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")",
            name="status_known",
        ),
        sa.Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"))
    order_version: Mapped[int]
    client_id: Mapped[str] = mapped_column(sa.String(64))
    destination: Mapped[str] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class SyncCursor(DataBase):
    """Where the last pull of one (client, marketplace, account, stream) got to."""

    __tablename__ = "sync_cursors"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    marketplace: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    account: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    position_at: Mapped[datetime | None]
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class BlindIndexEntry(DataBase):
    """HMAC digest of one buyer identifier of one order, to find orders without decrypting."""

    __tablename__ = "blind_index"
    __table_args__ = (
        sa.Index("ix_blind_index_client_id_kind_digest", "client_id", "kind", "digest"),
    )

    client_id: Mapped[str] = mapped_column(sa.String(64))
    # The natural key is the primary key: no surrogate id (nothing refers to a row), so the
    # table with the most rows per order carries one index and one sequence fewer. Leading
    # with order_id, it also serves deletes by order (PostgreSQL does not index foreign keys).
    order_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class AuditEvent(DataBase):
    """One link of the hash-chained audit log. Ids are assigned by the chain, 1, 2, 3..."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.UniqueConstraint("hash"),
        sa.Index("ix_audit_events_client_id_occurred_at", "client_id", "occurred_at"),
    )

    # No sequence: `storage.audit.append` sets id = head + 1 under the chain's lock, so ids
    # are gap-free and a deleted row shows up as a gap.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    subject: Mapped[dict[str, Any]]
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class QuarantineEntry(DataBase):
    """A payload that failed validation, kept sealed under its bucket key until resolved."""

    __tablename__ = "quarantine"
    __table_args__ = (
        sa.Index("ix_quarantine_client_id_bucket_day", "client_id", "bucket_day"),
        sa.Index("ix_quarantine_client_id_payload_digest", "client_id", "payload_digest"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    marketplace: Mapped[str] = mapped_column(sa.String(16))
    account: Mapped[str] = mapped_column(sa.String(64))
    marketplace_order_id: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    field: Mapped[str | None] = mapped_column(sa.String(256))
    received_at: Mapped[datetime]
    sealed_payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    wrapped_data_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    bucket_day: Mapped[date]
    resolved_at: Mapped[datetime | None]
    # Keyed digest of the payload (the client's content-digest key): finds a repeat without
    # opening anything, and reveals nothing to whoever lacks the key.
    payload_digest: Mapped[str | None] = mapped_column(sa.String(64))


class RateBucket(DataBase):
    """One usage-plan token bucket, shared by every worker process (`storage.rate_buckets`).

    Times are unix seconds from the caller's clock, as the connectors' bucket arithmetic uses
    them, not timestamps: the row is rewritten on every request and never read by people.
    """

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Float)
    # The last refill, unix seconds.
    updated_s: Mapped[float] = mapped_column(sa.Float)
    # The rate the marketplace announced (x-amzn-RateLimit-Limit); NULL: the plan's rate.
    rate_per_s: Mapped[float | None] = mapped_column(sa.Float)
