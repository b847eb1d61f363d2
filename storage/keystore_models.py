"""The key-store database: wrapped bucket keys (or their tombstones), index keys, rotations.

A separate database from the order data, so that a data backup holds only wrapped data keys,
which die with their bucket key. The repository using these tables lives in the key store.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.sqltypes import NAMING_CONVENTION, BigId, UtcDateTime


class KeystoreBase(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class BucketKey(KeystoreBase):
    """One client's key for one expiry day: active and wrapped, or destroyed (a tombstone)."""

    __tablename__ = "bucket_keys"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "day"),
        sa.UniqueConstraint("key_id"),
        sa.CheckConstraint("state IN ('active', 'destroyed')", name="state_known"),
        # A destroyed key keeps only its commitment: no path may leave wrapped bytes behind.
        sa.CheckConstraint(
            "state = 'active' OR wrapped_key IS NULL", name="destroyed_holds_no_key"
        ),
        # The expiry job looks for active keys whose day has come, across all clients.
        sa.Index("ix_bucket_keys_state_day", "state", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[date]
    key_id: Mapped[str] = mapped_column(sa.String(32))
    root_key_id: Mapped[str] = mapped_column(sa.String(128))
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    commitment: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None]


class IndexKey(KeystoreBase):
    """One client's blind-index key, wrapped by the root key."""

    __tablename__ = "index_keys"
    __table_args__ = (sa.UniqueConstraint("key_id"),)

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(32))
    root_key_id: Mapped[str] = mapped_column(sa.String(128))
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]


class RootRotation(KeystoreBase):
    """One re-wrap of every stored key from one root key (version) to another."""

    __tablename__ = "root_rotations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    from_root_key_id: Mapped[str] = mapped_column(sa.String(128))
    to_root_key_id: Mapped[str] = mapped_column(sa.String(128))
    state: Mapped[str] = mapped_column(sa.String(16))
