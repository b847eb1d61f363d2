"""Initial data schema: orders, deliveries, sync cursors, blind index, audit log, quarantine.

Revision ID: data_0001
Revises:
Create Date: 2026-05-09

Written by hand against storage/models.py; every constraint is named as the naming
convention would name it, so later batch migrations on SQLite can find them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "data_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("marketplace", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("marketplace_order_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        _ts("purchased_at"),
        _ts("marketplace_updated_at", nullable=True),
        _ts("shipped_at", nullable=True),
        _ts("delivered_at", nullable=True),
        _ts("cancelled_at", nullable=True),
        _ts("latest_delivery_by", nullable=True),
        sa.Column("delivery_source", sa.String(32), nullable=True),
        sa.Column("clear", sa.JSON(), nullable=False),
        sa.Column("pii_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("bucket_day", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        _ts("shredded_at", nullable=True),
        sa.Column("shred_reason", sa.String(32), nullable=True),
        _ts("first_stored_at"),
        _ts("last_stored_at"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint(
            "client_id",
            "marketplace",
            "marketplace_order_id",
            name="uq_orders_client_id_marketplace_marketplace_order_id",
        ),
        sa.CheckConstraint("version >= 1", name="ck_orders_version_positive"),
        sa.CheckConstraint(
            "shredded_at IS NULL OR (pii_ciphertext IS NULL AND wrapped_data_key IS NULL)",
            name="ck_orders_shredded_holds_no_pii",
        ),
    )
    op.create_index("ix_orders_client_id_bucket_day", "orders", ["client_id", "bucket_day"])
    op.create_index("ix_orders_client_id_expires_on", "orders", ["client_id", "expires_on"])
    op.create_index("ix_orders_client_id_status", "orders", ["client_id", "status"])

    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("order_version", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("lease_until", nullable=True),
        sa.Column("leased_by", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_deliveries_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "order_id",
            "order_version",
            "destination",
            name="uq_deliveries_order_id_order_version_destination",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'delivered', 'failed', 'dead', 'superseded')",
            name="ck_deliveries_status_known",
        ),
    )
    op.create_index(
        "ix_deliveries_status_next_attempt_at", "deliveries", ["status", "next_attempt_at"]
    )

    op.create_table(
        "sync_cursors",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("marketplace", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        _ts("position_at", nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint(
            "client_id", "marketplace", "account", "stream", name="pk_sync_cursors"
        ),
    )

    op.create_table(
        "blind_index",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blind_index"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name="fk_blind_index_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "order_id", "kind", "digest", name="uq_blind_index_order_id_kind_digest"
        ),
    )
    op.create_index(
        "ix_blind_index_client_id_kind_digest", "blind_index", ["client_id", "kind", "digest"]
    )

    op.create_table(
        "audit_events",
        # No sequence: ids are assigned by the hash chain (storage.audit.append).
        sa.Column("id", ID, autoincrement=False, nullable=False),
        _ts("occurred_at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.UniqueConstraint("hash", name="uq_audit_events_hash"),
    )
    op.create_index(
        "ix_audit_events_client_id_occurred_at", "audit_events", ["client_id", "occurred_at"]
    )

    op.create_table(
        "quarantine",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("marketplace", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("marketplace_order_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.String(256), nullable=True),
        _ts("received_at"),
        sa.Column("sealed_payload", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False),
        sa.Column("bucket_day", sa.Date(), nullable=False),
        _ts("resolved_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_client_id_bucket_day", "quarantine", ["client_id", "bucket_day"])


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("audit_events")
    op.drop_table("blind_index")
    op.drop_table("sync_cursors")
    op.drop_table("deliveries")
    op.drop_table("orders")
