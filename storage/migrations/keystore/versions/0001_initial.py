"""Initial key-store schema: bucket keys, index keys, root-key rotations.

Revision ID: keystore_0001
Revises:
Create Date: 2026-05-09

Written by hand against storage/keystore_models.py; constraint names follow the naming
convention.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keystore_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bucket_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("root_key_id", sa.String(128), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bucket_keys"),
        sa.UniqueConstraint("client_id", "day", name="uq_bucket_keys_client_id_day"),
        sa.UniqueConstraint("key_id", name="uq_bucket_keys_key_id"),
        sa.CheckConstraint("state IN ('active', 'destroyed')", name="ck_bucket_keys_state_known"),
        sa.CheckConstraint(
            "state = 'active' OR wrapped_key IS NULL", name="ck_bucket_keys_destroyed_holds_no_key"
        ),
    )
    op.create_index("ix_bucket_keys_state_day", "bucket_keys", ["state", "day"])

    op.create_table(
        "index_keys",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("root_key_id", sa.String(128), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_index_keys"),
        sa.UniqueConstraint("key_id", name="uq_index_keys_key_id"),
    )

    op.create_table(
        "root_rotations",
        sa.Column("id", ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("from_root_key_id", sa.String(128), nullable=False),
        sa.Column("to_root_key_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_root_rotations"),
    )


def downgrade() -> None:
    op.drop_table("root_rotations")
    op.drop_table("index_keys")
    op.drop_table("bucket_keys")
